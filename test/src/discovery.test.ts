// Workers from DNS, resolved against a real DNS server on loopback whose records change between lookups.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import t, { type Test } from 'tap';
import { type Clock, type Timer, realClock } from '../../src/clock.js';
import { type DiscoveredWorker, type DnsSourceOptions, DnsWorkerSource } from '../../src/discovery.js';
import { startDnsServer, type TestDnsServer } from '../fixtures/dns-server.js';

const SRV_NAME = '_http._tcp.openlambda-workers.default.svc.cluster.local';
const podName = (i: number): string => `openlambda-workers-${i}.openlambda-workers.default.svc.cluster.local`;

/** A clock whose timers fire only when the test says so: "one interval" is exactly one `fire()`. */
function manualClock(): Clock & { pending(): number[]; fire(): void } {
  let now = 0;
  let timers: { at: number; delay: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => now,
    setTimer(ms, fn): Timer {
      const timer = { at: now + ms, delay: ms, fn, live: true };
      timers.push(timer);
      return { cancel: () => { timer.live = false; } };
    },
    pending: () => timers.filter((x) => x.live).map((x) => x.delay),
    fire() {
      timers = timers.filter((x) => x.live).sort((a, b) => a.at - b.at);
      const next = timers.shift();
      if (next === undefined) throw new Error('no timer to fire');
      now = next.at;
      next.live = false;
      next.fn();
    },
  };
}

interface LogLine { level: number; msg: string; [key: string]: unknown }

function captureLog(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return Object.assign(pino({ level: 'debug' }, stream), { lines });
}
const WARN = 40;

/** Every onChange call, and a promise for the next one. */
function changeLog(): { calls: DiscoveredWorker[][]; onChange: (w: DiscoveredWorker[]) => void; next(): Promise<DiscoveredWorker[]> } {
  const calls: DiscoveredWorker[][] = [];
  let waiting: ((w: DiscoveredWorker[]) => void)[] = [];
  return {
    calls,
    onChange(workers) {
      calls.push(workers);
      const wake = waiting;
      waiting = [];
      for (const w of wake) w(workers);
    },
    next: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

const ids = (workers: readonly DiscoveredWorker[]): string[] => workers.map((w) => w.id).sort();

/** A worker pod: its SRV record and its address record. */
function pod(dns: TestDnsServer, i: number, address: string): { type: 'SRV'; target: string; port: number } {
  dns.setRecords(podName(i), [{ type: 'A', address }]);
  return { type: 'SRV', target: podName(i), port: 8080 };
}

async function setup(t: Test, overrides: Partial<DnsSourceOptions> = {}, clock: Clock = manualClock()) {
  const dns = await startDnsServer();
  const log = captureLog();
  const changes = changeLog();
  const source = new DnsWorkerSource(
    { name: SRV_NAME, type: 'srv', port: 0, intervalMs: 5000, server: dns.server, timeoutMs: 150, ...overrides },
    changes.onChange,
    log,
    clock,
  );
  t.teardown(async () => {
    source.stop();
    await dns.close();
  });
  return { dns, log, changes, source };
}

t.test('SRV: target names become ids, addresses become URLs, weights and the lowest priority are kept', async (t) => {
  const { dns, changes, source } = await setup(t);
  dns.setRecords(podName(0), [{ type: 'A', address: '10.0.0.10' }]);
  dns.setRecords(podName(1), [{ type: 'A', address: '10.0.0.11' }]);
  dns.setRecords(podName(2), [{ type: 'AAAA', address: 'fd00::12' }]);
  dns.setRecords(podName(9), [{ type: 'A', address: '10.0.0.19' }]);
  dns.setRecords(SRV_NAME, [
    { type: 'SRV', target: podName(0), port: 8080, priority: 10, weight: 0 },
    { type: 'SRV', target: `${podName(1)}.`, port: 8081, priority: 10, weight: 3 },
    { type: 'SRV', target: podName(2), port: 8080, priority: 10, weight: 1 },
    { type: 'SRV', target: podName(9), port: 8080, priority: 20, weight: 5 }, // a fallback tier: not routed to
  ]);
  await source.start();
  t.equal(changes.calls.length, 1, 'the first answer is reported once');
  t.same(changes.calls[0], [
    { id: `${podName(0)}:8080`, url: 'http://10.0.0.10:8080', address: 'http://10.0.0.10:8080', weight: 1 },
    { id: `${podName(1)}:8081`, url: 'http://10.0.0.11:8081', address: 'http://10.0.0.11:8081', weight: 3 },
    { id: `${podName(2)}:8080`, url: 'http://[fd00::12]:8080', address: 'http://[fd00::12]:8080', weight: 1 },
  ]);
  t.same(source.workers, changes.calls[0], 'the current set is readable');
});

t.test('a pod that comes back on a new address keeps its id', async (t) => {
  const { dns, changes, source } = await setup(t);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  dns.setRecords(podName(0), [{ type: 'A', address: '10.0.0.99' }]);
  await source.lookupNow();
  t.same(changes.calls.map((c) => c.map((w) => [w.id, w.url])), [
    [[`${podName(0)}:8080`, 'http://10.0.0.10:8080']],
    [[`${podName(0)}:8080`, 'http://10.0.0.99:8080']],
  ]);
});

t.test('adding a record adds a worker at the next interval; removing one removes it', async (t) => {
  const clock = manualClock();
  const { dns, changes, source } = await setup(t, {}, clock);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  t.same(ids(changes.calls[0]!), [`${podName(0)}:8080`]);
  t.same(clock.pending(), [5000], 'the next lookup waits one interval');

  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10'), pod(dns, 1, '10.0.0.11')]);
  const added = changes.next();
  clock.fire();
  t.same(ids(await added), [`${podName(0)}:8080`, `${podName(1)}:8080`], 'added within one interval');

  await source.lookupNow(); // the lookup the timer started has ended: the next one is scheduled
  t.same(clock.pending(), [5000]);
  dns.setRecords(SRV_NAME, [pod(dns, 1, '10.0.0.11')]);
  const removed = changes.next();
  clock.fire();
  t.same(ids(await removed), [`${podName(1)}:8080`], 'removed within one interval');
  t.equal(changes.calls.length, 3);
});

t.test('the same set in another order is not a change', async (t) => {
  const { dns, changes, source } = await setup(t);
  const a = pod(dns, 0, '10.0.0.10');
  const b = pod(dns, 1, '10.0.0.11');
  dns.setRecords(SRV_NAME, [a, b]);
  await source.start();
  dns.setRecords(SRV_NAME, [b, a]);
  await source.lookupNow();
  t.equal(changes.calls.length, 1);
  dns.setRecords(SRV_NAME, [b, { ...a, weight: 4 }]);
  await source.lookupNow();
  t.equal(changes.calls.length, 2, 'a new weight is a change');
  t.same(changes.calls[1]!.map((w) => w.weight), [4, 1]);
});

t.test('a failed lookup keeps the last answer and says so', async (t) => {
  const { dns, log, changes, source } = await setup(t);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  dns.setRecords(SRV_NAME, []); // whatever the name holds now, a failure must not be read as "gone"

  for (const mode of ['servfail', 'refused'] as const) {
    dns.failAll(mode);
    await source.lookupNow();
    dns.failAll(undefined);
    t.equal(changes.calls.length, 1, `${mode}: no change reported`);
  }
  dns.failAll('drop');
  const before = dns.queries.length;
  await source.lookupNow();
  t.ok(dns.queries.length > before, 'the server was asked and did not answer');
  t.equal(changes.calls.length, 1, 'timeout: no change reported');
  t.same(ids(source.workers), [`${podName(0)}:8080`], 'the last answer stands');

  const warnings = log.lines.filter((l) => l.level === WARN && /keeping the last answer/.test(l.msg));
  t.equal(warnings.length, 3, 'each failure is logged as a warning');
  t.match(warnings.map((w) => w.reason), [/ESERVFAIL/, /EREFUSED/, /ETIMEOUT/]);

  dns.failAll(undefined);
  dns.setRecords(SRV_NAME, [pod(dns, 1, '10.0.0.11')]);
  await source.lookupNow();
  t.same(ids(changes.calls[1]!), [`${podName(1)}:8080`], 'answers are used again once the server recovers');
});

t.test('SRV targets: one whose address lookup fails fails the lookup; one with no address is left out', async (t) => {
  const { dns, log, changes, source } = await setup(t);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10'), pod(dns, 1, '10.0.0.11')]);
  dns.failAll('servfail', podName(1));
  await source.lookupNow();
  t.equal(changes.calls.length, 1, 'a half-known answer changes nothing');
  t.ok(dns.queries.some((q) => q.name === SRV_NAME) && dns.queries.some((q) => q.name === podName(1)), 'both names were asked');

  dns.failAll(undefined, podName(1));
  dns.setRecords(podName(1), []); // the pod is gone, its SRV record not yet
  await source.lookupNow();
  t.equal(changes.calls.length, 1, 'the set without the vanished target is the set we had');
  t.ok(log.lines.some((l) => l.level === WARN && l.target === podName(1) && /no address/.test(l.msg)), 'the missing target is logged');
});

t.test('NXDOMAIN or no records empties the set only after emptyAfter lookups in a row', async (t) => {
  const { dns, log, changes, source } = await setup(t, { emptyAfter: 3 });
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  dns.setRecords(SRV_NAME, []);
  await source.lookupNow();
  await source.lookupNow();
  t.equal(changes.calls.length, 1, 'two NXDOMAIN answers: kept');
  dns.failAll('servfail');
  await source.lookupNow();
  dns.failAll(undefined);
  t.equal(changes.calls.length, 1, 'a failure in between neither empties nor restarts the count');
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.lookupNow();
  dns.setRecords(SRV_NAME, []);
  await source.lookupNow();
  await source.lookupNow();
  t.equal(changes.calls.length, 1, 'an answer in between restarts the count');
  await source.lookupNow();
  t.same(changes.calls.at(-1), [], 'the third NXDOMAIN in a row empties the set');
  t.ok(log.lines.some((l) => l.level === WARN && /emptying/.test(l.msg)), 'emptying is logged');
});

t.test('emptyAfter 0 never empties the set', async (t) => {
  const { dns, changes, source } = await setup(t, { emptyAfter: 0 });
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  dns.setRecords(SRV_NAME, []);
  for (let i = 0; i < 5; i++) await source.lookupNow();
  t.equal(changes.calls.length, 1);
});

t.test('A/AAAA names: every address with the configured port, ids are ip:port', async (t) => {
  const name = 'workers.example.test';
  const { dns, changes, source } = await setup(t, { name, type: 'a', port: 9000 });
  dns.setRecords(name, [{ type: 'A', address: '10.0.0.2' }, { type: 'A', address: '10.0.0.1' }, { type: 'AAAA', address: 'fd00::1' }]);
  await source.start();
  t.same(changes.calls[0], [
    { id: '10.0.0.1:9000', url: 'http://10.0.0.1:9000', address: 'http://10.0.0.1:9000', weight: 1 },
    { id: '10.0.0.2:9000', url: 'http://10.0.0.2:9000', address: 'http://10.0.0.2:9000', weight: 1 },
    { id: '[fd00::1]:9000', url: 'http://[fd00::1]:9000', address: 'http://[fd00::1]:9000', weight: 1 },
  ]);
  dns.setRecords(name, [{ type: 'A', address: '10.0.0.2' }]);
  await source.lookupNow();
  t.same(ids(changes.calls[1]!), ['10.0.0.2:9000']);
});

t.test('start resolves after a failed first lookup and keeps trying every interval', async (t) => {
  const clock = manualClock();
  const { dns, log, changes, source } = await setup(t, {}, clock);
  dns.failAll('drop');
  await source.start();
  t.equal(changes.calls.length, 0);
  t.ok(log.lines.some((l) => l.level === WARN), 'the failure is logged');
  t.same(clock.pending(), [5000], 'the next lookup is scheduled');
  dns.failAll(undefined);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  const found = changes.next();
  clock.fire();
  t.same(ids(await found), [`${podName(0)}:8080`]);
});

t.test('on the real clock: re-resolves by itself; stop ends the lookups', async (t) => {
  const { dns, changes, source } = await setup(t, { intervalMs: 20 }, realClock);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10'), pod(dns, 1, '10.0.0.11')]);
  t.same(ids(await changes.next()), [`${podName(0)}:8080`, `${podName(1)}:8080`]);
  source.stop();
  const asked = dns.queries.length;
  await source.lookupNow();
  t.equal(dns.queries.length, asked, 'no query after stop');
});

t.test('bad options are refused with the key, the value and the rule', async (t) => {
  const base: DnsSourceOptions = { name: SRV_NAME, type: 'srv', port: 0, intervalMs: 1000, server: '' };
  const make = (o: Partial<DnsSourceOptions>): DnsWorkerSource =>
    new DnsWorkerSource({ ...base, ...o } as DnsSourceOptions, () => {}, pino({ level: 'silent' }));
  t.throws(() => make({ name: '' }), /dnsName "" is empty/);
  t.throws(() => make({ name: 'bad..name' }), /dnsName "bad\.\.name" is not a DNS name: label ""/);
  t.throws(() => make({ name: 'http://workers' }), /dnsName "http:\/\/workers" is not a DNS name/);
  t.throws(() => make({ name: `${'a'.repeat(64)}.test` }), /label "a{64}" must be 1 to 63/);
  t.throws(() => make({ type: 'txt' as 'srv' }), /dnsType "txt" must be "srv" or "a"/);
  t.throws(() => make({ type: 'a', port: 0 }), /dnsPort 0 must be the workers' port/);
  t.throws(() => make({ type: 'a', port: 70000 }), /dnsPort 70000/);
  t.throws(() => make({ intervalMs: 0 }), /dnsIntervalMs 0 must be an integer/);
  t.throws(() => make({ intervalMs: 1.5 }), /dnsIntervalMs 1\.5/);
  t.throws(() => make({ server: 'dns.local:53' }), /dnsServer "dns.local:53" must be an IP address/);
  t.throws(() => make({ server: '127.0.0.1:99999' }), /dnsServer "127.0.0.1:99999" has a port outside/);
  t.throws(() => make({ emptyAfter: 1 }), /dnsEmptyAfter 1 must be 0 .* or an integer of at least 2/);
  t.throws(() => make({ timeoutMs: -1 }), /dnsTimeoutMs -1/);
  t.doesNotThrow(() => make({ server: '[::1]:5353' }));
  t.doesNotThrow(() => make({ server: '10.96.0.10' }));
  t.doesNotThrow(() => make({ type: 'a', port: 8080, name: 'workers.default.svc.cluster.local.' }));
});

t.test('start twice is a programming error', async (t) => {
  const { dns, source } = await setup(t);
  dns.setRecords(SRV_NAME, [pod(dns, 0, '10.0.0.10')]);
  await source.start();
  await t.rejects(source.start(), /called twice/);
});
