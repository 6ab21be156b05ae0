// cost-aware's memos of what a candidate holds, against the policy's own reading from scratch (HeldPackages.holds,
// which reads the worker's set for every package): through requests sent, the table adding their packages to the
// set, reports that replace the set, and time passing beyond the package lifetime.
import t from 'tap';
import { HeldMemos, HeldPackages } from '../../balancers/held-packages.js';
import { PackageIds } from '../../balancers/held-table.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { WorkerRecords } from '../../balancers/worker-record.js';

t.test('a memo says what the worker holds as a reading from scratch does', async (t) => {
  const clock = { ms: 0 };
  const ids = new PackageIds();
  const records = new WorkerRecords(() => clock.ms, ids);
  const ttlMs = 1000;
  const held = new HeldPackages(ttlMs, ids);
  const view = { id: 'w', url: 'http://w:8080', weight: 1, limit: 4, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set<string>(), cores: 0 };
  const r = records.of(view);
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const functions = [['a', 'b', 'c'], ['b', 'd'], ['e'], ['c', 'f', 'a', 'd'], []];
  const lists = functions.map((pkgs) => ({ pkgs, ids: ids.ofList(pkgs), memos: new HeldMemos(pkgs.length, 2) }));
  const random = seededRandom(11);
  const counts = { checks: 0, held: 0, lacking: 0, wrongTimes: 0 };
  for (let step = 0; step < 20_000; step++) {
    const action = random();
    if (action < 0.3) {
      clock.ms += Math.floor(random() * 400);
    } else if (action < 0.6) {
      // A pick reads memo j of a function and sends a request there; the table then adds the packages to the set.
      const f = lists[Math.floor(random() * lists.length)]!;
      const j = Math.floor(random() * 2);
      held.current(r, clock.ms);
      if (!f.memos.fresh(j, r)) held.refresh(f.memos, j, f.pkgs, f.ids, r);
      held.used(f.ids, r, f.memos, j, clock.ms);
      for (const p of f.pkgs) view.packages.add(p);
    } else if (action < 0.65) {
      // A report: the set replaced by a random part of what it might hold.
      view.packages = new Set(names.filter(() => random() < 0.5));
    } else {
      // Another process's request (no memo), or a look.
      if (action < 0.7) held.used(lists[Math.floor(random() * lists.length)]!.ids, r, undefined, -1, clock.ms);
      for (const f of lists) {
        for (let j = 0; j < 2; j++) {
          held.current(r, clock.ms);
          if (!f.memos.fresh(j, r)) held.refresh(f.memos, j, f.pkgs, f.ids, r);
          const at = f.memos.sinceAt(j);
          for (let i = 0; i < f.pkgs.length; i++) {
            const byMemo = clock.ms - f.memos.cells[at + i]! <= held.ttlMs;
            if (byMemo !== held.holds(r, f.pkgs[i]!, clock.ms)) counts.wrongTimes++;
            counts.checks++;
            if (byMemo) counts.held++;
            else counts.lacking++;
          }
        }
      }
    }
  }
  t.equal(counts.wrongTimes, 0, `every package a memo reads as held (or not) is so read from scratch (${counts.checks} readings)`);
  t.ok(counts.held > 1000 && counts.lacking > 1000, `both answers came up (${counts.held} held, ${counts.lacking} lacking)`);
  t.ok(held.ttlObservations > 0, `the reports taught the lifetime (${held.ttlObservations} observations, now ${Math.round(held.ttlMs)} ms)`);
});
