// The primary's journaling table and the serving processes' following tables
// (processes above 1), on the real table and policies: every change the primary
// applies reaches each follower, which ends in the same state with its share of
// each limit; a follower started from a snapshot equals one that followed all along.
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import type { Clock } from '../../src/clock.js';
import { connectionShare } from '../../src/process-share.js';
import { FollowingTable, JournalingTable, type TableChange } from '../../src/table-sync.js';
import type { WorkerTable } from '../../src/workers.js';
import { seededRandom } from '../fixtures/servers.js';

/** Time stands still: these tests drive the tables by hand (an ejection lasts until the test ends). */
const stillClock: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) };
const options = { connectionsPerWorker: 5, failTimeoutMs: 1000, ejectionMaxMs: 1000, healthFall: 2, healthRise: 1 };
const balancer = (): ReturnType<typeof createBalancer> => createBalancer('pkg-aware', {}, { random: seededRandom(1), now: () => 0 });

function picture(table: WorkerTable): unknown[] {
  return table.workers.map((w) => ({ id: w.id, weight: w.weight, health: w.health, packages: [...w.packages].sort(), routable: w.routable, reported: w.reportedInFlight ?? null, cores: w.cores }));
}

t.test('connection shares sum to the limit, never more, and differ by at most one', async (t) => {
  for (const count of [1, 2, 3, 7, 16]) {
    for (const limit of [1, 2, 5, 10, 33]) {
      for (const id of ['a', 'worker-7', '10.0.0.1:8080']) {
        const shares = Array.from({ length: count }, (_, i) => connectionShare(limit, count, i, id));
        t.equal(shares.reduce((n, s) => n + s, 0), limit, `limit ${limit}, ${count} processes, ${id}: ${shares.join('+')}`);
        t.ok(Math.max(...shares) - Math.min(...shares) <= 1, 'even');
      }
    }
  }
  const extra = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id) => [0, 1].findIndex((i) => connectionShare(1, 2, i, id) === 1));
  t.ok(extra.includes(0) && extra.includes(1), 'the extra connection of a limit of 1 goes to either process, by worker');
});

t.test('followers apply the primary\'s changes in order and reach its picture, each with its share', async (t) => {
  const changes: TableChange[] = [];
  const primary = new JournalingTable(balancer(), stillClock, options, (c) => changes.push(c));
  const ejected: string[][] = [[], []];
  const followers = [0, 1].map((i) => new FollowingTable(balancer(), stillClock, options, (limit, id) => connectionShare(limit, 2, i, id), (id) => ejected[i]!.push(id)));
  const spec = (n: number, connections?: number) => ({ id: `w${n}`, url: `http://127.0.0.1:${9100 + n}`, address: `127.0.0.1:${9100 + n}`, weight: 1, ...(connections === undefined ? {} : { connections }) });
  primary.add([spec(1), spec(2, 3), spec(3)]);
  const [w1, w2, w3] = ['w1', 'w2', 'w3'].map((id) => primary.get(id)!);
  primary.checked(w1!, false, 'refused');
  primary.checked(w1!, false, 'refused');
  primary.checked(w1!, true, '');
  primary.reported(w2!, { packages: ['numpy', 'six'], inFlight: 2, cores: 4 });
  primary.drain(w3!);
  primary.update(w2!, 2, 8);
  primary.retire([w3!]);
  t.same(changes.map((c) => c.kind), ['add', 'verdict', 'verdict', 'report', 'drain', 'update', 'drain', 'remove'], 'each change recorded once, in order; a routine check that changes nothing is not');

  const late = new FollowingTable(balancer(), stillClock, options, (limit, id) => connectionShare(limit, 2, 1, id), () => undefined);
  for (const change of changes) for (const f of followers) f.apply(change);
  late.restore(primary.snapshot());
  for (const f of [...followers, late]) t.same(picture(f), picture(primary), 'same workers, health, packages and reports as the primary');
  t.same(followers.map((f) => f.get('w2')!.limit).reduce((a, b) => a + b, 0), 8, 'the shares of the new limit sum to it');
  t.same(followers.map((f) => f.get('w1')!.limit).sort(), [2, 3], 'a limit of 5: 3 and 2');
  t.equal(late.get('w2')!.limit, followers[1]!.get('w2')!.limit, 'a follower started from the snapshot has the same share');

  followers[0]!.eject(followers[0]!.get('w1')!, 'connect refused');
  t.same(ejected, [['w1'], []], 'a follower\'s own ejection is reported once');
  const relayed: TableChange = { kind: 'eject', id: 'w1', reason: 'connect refused' };
  for (const f of followers) f.apply(relayed);
  t.same(followers.map((f) => f.get('w1')!.health.state), ['ejected', 'ejected'], 'the relayed ejection reaches every follower');
  t.same(ejected, [['w1'], []], 'and is not reported again');
  t.doesNotThrow(() => followers[0]!.apply({ kind: 'drain', id: 'gone' }), 'a change naming a worker the table no longer has is moot');
});

t.test('workers the primary holds until their first check stay out of every follower\'s routing until it passes; batch re-weights reach followers as one batch', async (t) => {
  const changes: TableChange[] = [];
  const held = { ...options, holdNewWorkers: true };
  const primary = new JournalingTable(balancer(), stillClock, held, (c) => changes.push(c));
  const spec = (n: number) => ({ id: `w${n}`, url: `http://127.0.0.1:${9100 + n}`, address: `127.0.0.1:${9100 + n}`, weight: 1 });
  primary.add([spec(1)], false);
  primary.add([spec(2)]);
  const followers = [0, 1].map((i) => new FollowingTable(balancer(), stillClock, options, (limit, id) => connectionShare(limit, 2, i, id), () => undefined));
  const sync = (): void => {
    for (const c of changes.splice(0)) for (const f of followers) f.apply(c);
  };
  sync();
  t.same(followers.map((f) => [f.get('w1')!.routable, f.get('w2')!.routable]), [[true, false], [true, false]], 'the start-up worker routes; the added one waits');
  primary.checked(primary.get('w2')!, true, '');
  sync();
  t.same(followers.map((f) => f.get('w2')!.routable), [true, true], 'its first passed check lets it in everywhere');
  primary.updateMany([{ worker: primary.get('w1')!, weight: 3, limit: 6 }, { worker: primary.get('w2')!, weight: 2, limit: 4 }]);
  t.same(changes.map((c) => c.kind), ['update'], 'one batch recorded');
  sync();
  for (const f of followers) t.same([f.get('w1')!.weight, f.get('w2')!.weight], [3, 2], 'weights applied');
  t.equal(followers.reduce((n, f) => n + f.get('w1')!.limit, 0), 6, 'shares of the new limit sum to it');
  primary.add([spec(3)]);
  primary.trustUnchecked();
  sync();
  t.same(followers.map((f) => f.get('w3')!.routable), [true, true], 'workers trusted when checks stop are trusted everywhere');
});
