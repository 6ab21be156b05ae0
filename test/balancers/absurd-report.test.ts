// One absurd load report must not poison a policy for good: once the worker reports honestly again,
// hashing-bounded's bound binds again. Only the policy factory and its events are used, so this also
// runs against code from before the exact totals (test/regressions/run-against.sh).
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { Balancer } from '../../balancers/types.js';
import { pool, TestTable } from '../fixtures/views.js';

const routableLoad = (balancer: Balancer): number => Number(balancer.describe?.().routableLoad);

t.test('an absurd report stops counting once the worker reports honestly again, so the bound binds again', async (t) => {
  const balancer = createBalancer('hashing-bounded', {}, { random: seededRandom(1), now: () => 0 });
  const workers = pool(4, { limit: 100 });
  const table = new TestTable(balancer, workers);
  workers[0]!.external = 1.7e308;
  workers[1]!.external = 1.7e308;
  balancer.changed?.(workers[0]!);
  balancer.changed?.(workers[1]!);
  t.ok(Number.isFinite(routableLoad(balancer)), `the load total stays finite under two reports of 1.7e308 (${routableLoad(balancer)})`);
  workers[0]!.external = 0;
  workers[1]!.external = 0;
  balancer.changed?.(workers[0]!);
  balancer.changed?.(workers[1]!);
  t.equal(routableLoad(balancer), 0, 'honest reports bring the total back to 0');
  // With the total exact, one key's worker fills to its bound and the next request spills.
  const fn = { name: 'f', packages: ['numpy'] };
  const used = new Set<string>();
  for (let i = 0; i < 8; i++) used.add(table.route(fn).id);
  t.ok(used.size > 1, `requests of one key spread once the bound binds (${[...used].join(', ')})`);
});
