// Every policy's pick against a plain scan of its rule, over a few thousand
// random table events: routing, finishing, down/up, weight and limit changes,
// workers joining (one or a batch) and leaving. Any structure that falls out of
// step with the views shows up as a differing pick.
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { LambdaInfo, WorkerView } from '../../balancers/types.js';
import { TestTable, worker, type TestWorker } from '../fixtures/views.js';
import {
  murmurPointsOf,
  olschedulerPointsOf,
  refHashingBounded,
  refLeastLoaded,
  RefRingCache,
  RefRoundRobin,
  refOlscheduler,
  refPkgAware,
} from './reference.js';

const functions: LambdaInfo[] = Array.from({ length: 40 }, (_, i) => ({ name: `hdl${i}`, packages: i % 9 === 0 ? [] : [`pkg${i % 13}`, 'six'] }));

type Reference = (table: TestTable, fn: LambdaInfo) => WorkerView | undefined;

interface Case {
  policy: string;
  settings: Record<string, unknown>;
  reference: () => Reference;
}

const cases: Case[] = [
  { policy: 'least-loaded', settings: {}, reference: () => (table) => refLeastLoaded(table) },
  {
    policy: 'round-robin',
    settings: {},
    reference: () => {
      const rr = new RefRoundRobin();
      return (table) => rr.pick(table);
    },
  },
  {
    policy: 'hashing-bounded',
    settings: { balanceFactor: 1.25 },
    reference: () => {
      const rings = new RefRingCache(murmurPointsOf);
      return (table, fn) => refHashingBounded(table, rings, 1.25, fn);
    },
  },
  ...(['pkg-aware', 'pkg-aware-ring'] as const).flatMap((policy): Case[] => {
    const spill = policy === 'pkg-aware' ? 'least-loaded' : 'ring';
    return [
      {
        policy,
        settings: { loadThreshold: 2, ring: 'murmur3' },
        reference: () => {
          const rings = new RefRingCache(murmurPointsOf);
          return (table, fn) => refPkgAware(table, rings, 2, spill, fn);
        },
      },
      {
        policy,
        settings: { loadThreshold: 2, ring: 'olscheduler' },
        reference: () => {
          const rings = new RefRingCache(olschedulerPointsOf);
          return (table, fn) => refOlscheduler(table, rings, 2, spill, fn);
        },
      },
    ];
  }),
];

const waits = (policy: string): boolean => policy.startsWith('pkg-aware');

for (const c of cases) {
  t.test(`${c.policy} ${JSON.stringify(c.settings)}: every pick equals the reference scan over 4000 random events`, async (t) => {
    const random = seededRandom(c.policy.length * 7919 + JSON.stringify(c.settings).length);
    const int = (n: number): number => Math.floor(random() * n);
    const balancer = createBalancer(c.policy, c.settings, { random, now: () => 0 });
    const reference = c.reference();
    let serial = 0;
    const fresh = (): TestWorker => worker(`w${serial++}`, 1 + int(3), { limit: 1 + int(4) });
    const table = new TestTable(balancer, Array.from({ length: 8 }, fresh));
    let picks = 0;
    let spills = 0;
    for (let step = 0; step < 4000; step++) {
      const op = int(100);
      const someone = table.workers[int(table.workers.length)] as TestWorker | undefined;
      if (op < 55) {
        if (!table.anyFree()) continue;
        const fn = functions[int(functions.length)];
        const expected = reference(table, fn);
        const got = table.route(fn);
        picks++;
        if (got !== expected) {
          t.fail(`step ${step}: picked ${got.id}, reference ${expected?.id}`, { loads: table.workers.map((w) => `${w.id}:${w.inFlight}+${w.queued}/${w.limit}x${w.weight}${w.routable ? '' : ' down'}`) });
          return;
        }
        if (!waits(c.policy) && got.inFlight > got.limit) {
          t.fail(`step ${step}: ${c.policy} sent a request to full ${got.id} while a worker was free`);
          return;
        }
        if (got.queued > 0) spills++;
      } else if (op < 85) {
        const busy = table.workers.filter((w) => w.inFlight > 0);
        if (busy.length > 0) table.finish(busy[int(busy.length)]);
      } else if (op < 89 && someone !== undefined) {
        if (someone.routable) table.down(someone);
        else table.up(someone);
      } else if (op < 92 && someone !== undefined) {
        table.setWeight(someone, 1 + int(4));
      } else if (op < 95 && someone !== undefined) {
        table.setLimit(someone, 1 + int(4));
      } else if (op < 97) {
        if (random() < 0.5) table.add(fresh());
        else table.addMany([fresh(), fresh(), fresh()]);
      } else if (table.workers.length > 2 && someone !== undefined) {
        table.remove(someone);
      }
    }
    t.ok(picks > 1200, `${picks} picks compared`);
    if (waits(c.policy)) t.ok(spills > 0, `${spills} picks waited at a full worker`);
  });
}
