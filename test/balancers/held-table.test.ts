// cost-aware's per-worker holdings table (open addressing by package number) against a plain Map doing the
// same: every look-up, every confirmation, and the order of first use a report walks, through many growths.
import t, { type Test } from 'tap';
import { HeldTable, NO_USE, PackageIds } from '../../balancers/held-table.js';
import { seededRandom } from '../../balancers/seeded-random.js';

interface Entry {
  time: number;
  confirmed: boolean;
}

/** The reference: a Map keeps insertion order, and a use of a confirmed-only entry is its first use. */
class Reference {
  readonly entries = new Map<number, Entry>();
  readonly order: number[] = [];

  use(id: number, now: number): void {
    const e = this.entries.get(id);
    if (e === undefined) {
      this.entries.set(id, { time: now, confirmed: false });
      this.order.push(id);
      return;
    }
    if (e.time === NO_USE) this.order.push(id);
    e.time = now;
  }

  confirm(id: number): void {
    const e = this.entries.get(id);
    if (e === undefined) this.entries.set(id, { time: NO_USE, confirmed: true });
    else e.confirmed = true;
  }
}

function agree(t: Test, table: HeldTable, ref: Reference, ids: number, label: string): void {
  let wrong = 0;
  for (let id = 0; id < ids; id++) {
    const at = table.find(id);
    const e = ref.entries.get(id);
    if (e === undefined) {
      if (at !== -1) wrong++;
    } else if (at < 0 || table.time(at) !== e.time || table.confirmed(at) !== e.confirmed) {
      wrong++;
    }
  }
  t.equal(wrong, 0, `${label}: every package's entry as the reference has it`);
  t.same(Array.from({ length: table.uses }, (_, k) => table.usedId(k)), ref.order, `${label}: uses listed in the order of first use`);
}

t.test('look-ups, confirmations and the order of first use match a Map through growth', async (t) => {
  const random = seededRandom(11);
  const table = new HeldTable();
  const ref = new Reference();
  const ids = 3000;
  for (let step = 1; step <= 20_000; step++) {
    const id = Math.floor(random() * ids);
    if (random() < 0.3) {
      table.confirm(id);
      ref.confirm(id);
    } else {
      table.use(id, step);
      ref.use(id, step);
    }
    if (step % 5000 === 0) agree(t, table, ref, ids, `after ${step} steps`);
  }
  t.ok(ref.entries.size > 2000, `the table grew well past its first size (${ref.entries.size} entries)`);
});

t.test('an empty table finds nothing; a table made for n entries holds them', async (t) => {
  t.equal(new HeldTable().find(0), -1);
  t.equal(new HeldTable(0).uses, 0);
  const sized = new HeldTable(100);
  const ref = new Reference();
  for (let id = 0; id < 100; id++) {
    sized.confirm(id * 7);
    ref.confirm(id * 7);
  }
  for (let id = 0; id < 100; id += 3) {
    sized.use(id * 7, id);
    ref.use(id * 7, id);
  }
  agree(t, sized, ref, 700, 'sized');
});

t.test('package numbers: one per name, in the order first named, and one array per package list', async (t) => {
  const ids = new PackageIds();
  t.equal(ids.of('numpy'), 0);
  t.equal(ids.of('six'), 1);
  t.equal(ids.of('numpy'), 0, 'a name keeps its number');
  const list = ['scipy', 'six'];
  const numbered = ids.ofList(list);
  t.same(Array.from(numbered), [2, 1]);
  t.equal(ids.ofList(list), numbered, 'the same list gives the same array');
  t.not(ids.ofList(['scipy', 'six']), numbered, 'another list with the same names gives another array');
  t.same(ids.names, ['numpy', 'six', 'scipy']);
});
