// The per-worker record's storage: its numbers in the store's shared array.
import t from 'tap';
import type { WorkerView } from '../../balancers/types.js';
import { WorkerRecords } from '../../balancers/worker-record.js';

function view(id: string): WorkerView {
  return { id, url: `http://${id}:8080`, weight: 1, limit: 4, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set<string>(), cores: 0 };
}

t.test('a record keeps its numbers through the store growing, and a removed one keeps a copy of its own', async (t) => {
  const records = new WorkerRecords(() => 5);
  const views = Array.from({ length: 100 }, (_, i) => view(`w${i}`));
  const first = records.of(views[0]);
  first.area = 1.5;
  first.completedAt = 7.25;
  for (const w of views) records.of(w).busy = Number(w.id.slice(1)) + 0.5;
  t.equal(first.area, 1.5, 'a number survives the array growing');
  t.equal(first.completedAt, 7.25);
  t.equal(records.of(views[99]).busy, 99.5);
  t.equal(records.of(views[1]).svcAt, 5, 'set from the clock when made');
  t.equal(records.of(views[1]).completedAt, -Infinity, 'no completion yet');
  const gone = records.of(views[3]);
  records.delete(views[3]);
  gone.area = 42;
  const next = records.of(view('new'));
  t.equal(next.area, 0, 'a new record in the freed stretch starts from zero');
  t.equal(gone.area, 42, 'the removed record writes to its own copy');
  next.area = 3;
  t.equal(gone.area, 42, 'and the new record does not write over it');
  t.equal(first.area, 1.5, 'nor does the removed one write over any live record');
  t.not(next.serial, gone.serial, 'each record has its own serial');
});
