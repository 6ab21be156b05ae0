// One serving process of a proxy of several (`processes` above 1), started by the
// primary with node:cluster. It serves the connections the primary accepts on the
// port and hands over (connection-handoff.ts), with its own leases, queues and
// share of each worker's connections; what it routes on comes from the primary, in
// order; the admin API, /status and /metrics are the primary's.
import { AggregatorRegistry } from 'prom-client';
import { createBalancer } from '../balancers/index.js';
import type { Socket } from 'node:net';
import { makeLogger, policyEnvWith, servingParts } from './app.js';
import type { AdminAnswer } from './admin.js';
import { isOurs, type Picture, type Question, type ToPrimary, type ToProcess } from './cluster-messages.js';
import { realClock } from './clock.js';
import { EvidenceRelay } from './evidence-relay.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyControl } from './control.js';
import { applyConfig, drainServer, ingressTimeouts, tableOptions, type LoadedPackages } from './control-plane.js';
import type { PackageCost } from './packages.js';
import { connectionShare } from './process-share.js';
import { Registry } from './registry.js';
import { BorrowedSlots } from './slot-borrower.js';
import { createProxyServer } from './server.js';
import { statusOf } from './status.js';
import { FollowingTable } from './table-sync.js';
import { workerCaOf, type WorkerCa } from './worker-ca.js';

type StartMessage = Extract<ToProcess, { wr: 'start' }>;

function send(message: ToPrimary): void {
  if (process.connected) process.send!(message);
}

function registryOf(picture: Picture): Registry {
  return picture.functions === null ? Registry.open() : Registry.of(picture.registryPath, picture.functions);
}

/** The primary checked the bundle; this process builds its own context from the same text. */
function workerCaOfPicture(picture: Picture): WorkerCa {
  return workerCaOf(picture.workerCaPem, picture.config.workerCaFile);
}

function packagesOf(picture: Picture): LoadedPackages {
  const text = picture.packagesText;
  return { text, table: text === '' ? undefined : new Map(JSON.parse(text) as [string, PackageCost][]) };
}

/** Where the primary's messages go once the process has started (`socket`: a connection comes with `conn`); until then they wait in `early`. */
let handler: ((m: ToProcess, socket?: Socket) => void) | undefined;

/** Serves from the primary's `start` message until told to stop (or the primary is gone). */
async function serve(start: StartMessage, later: ToProcess[]): Promise<void> {
  const { index, count } = start;
  let config = start.picture.config;
  let registry = registryOf(start.picture);
  let packages = packagesOf(start.picture);
  let workerCa = workerCaOfPicture(start.picture);
  const log = makeLogger(config.logLevel, { process: index });
  const clock = realClock;
  // What this process's policy learns from its requests goes in batches to the primary, which relays it to every process.
  // The metrics come after the table; until then nothing is dispatched, so nothing is counted.
  let evidenceCounts: ReturnType<ProxyMetrics['evidenceCounts']> | undefined;
  const relay = new EvidenceRelay(clock, (batch, written) => {
    if (!process.connected) return written();
    process.send!({ wr: 'learned', observations: batch } satisfies ToPrimary, undefined, {}, () => written());
  }, {
    sent: (n) => evidenceCounts?.sent(n),
    dropped: (n) => evidenceCounts?.dropped(n),
  });
  const policyEnv = policyEnvWith(Math.random, clock, relay.push);
  const table = new FollowingTable(
    createBalancer(config.balancer, config.policy, policyEnv(packages.table)),
    clock,
    tableOptions(config),
    (limit, id, parts) => parts?.[index] ?? connectionShare(limit, count, index, id),
    (id, reason) => send({ wr: 'ejected', id, reason }),
  );
  table.restore(start.workers);
  const serving = servingParts(table, config, log, clock, workerCa);
  const { scheduler, metrics, ctx } = serving;
  evidenceCounts = metrics.evidenceCounts();
  // The primary's AggregatorRegistry asks every process for its metrics over the cluster channel.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([metrics.registry]);

  let nextAsk = 0;
  const asked = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  const ask = (question: Question): Promise<unknown> => new Promise((resolve, reject) => {
    const id = nextAsk++;
    asked.set(id, { resolve, reject });
    send({ wr: 'ask', ask: id, question });
  });
  const primaryOnly = (): never => {
    throw new Error('in a proxy of several processes the primary changes the workers');
  };
  const control: ProxyControl = {
    table,
    scheduler,
    get registry() { return registry; },
    metrics,
    log,
    ctx,
    config: () => config,
    reloading: () => false,
    stopping: () => stopping !== undefined,
    addWorkers: primaryOnly,
    removeWorkers: primaryOnly,
    drainWorkers: primaryOnly,
    reload: primaryOnly,
    reloadRegistry: primaryOnly,
    primary: {
      admin: (request) => ask({ what: 'admin', request }) as Promise<AdminAnswer>,
      status: (verbose) => ask({ what: 'status', verbose }),
      metrics: () => ask({ what: 'metrics' }) as Promise<string>,
    },
  };

  let seq = start.seq;
  // What this process holds of each worker's connections follows its need: see slot-ledger.ts.
  const slots = new BorrowedSlots(table, scheduler, {
    want: (id, count) => send({ wr: 'want', id, count }),
    handBack: (id, count, at) => send({ wr: 'handBack', id, count, seq: at }),
  }, metrics.slotCounts(), () => seq);
  scheduler.setBroker(slots);
  /** The next of the primary's numbered messages, or a gap (the primary replaces this process). */
  const inOrder = (got: number): boolean => {
    if (got === seq + 1) {
      seq = got;
      return true;
    }
    log.error({ expected: seq + 1, got }, 'a change from the primary arrived out of order');
    send({ wr: 'gap', expected: seq + 1, got });
    return false;
  };

  const server = createProxyServer(control, ingressTimeouts(config));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= drainServer(server, { ...serving, log }, config.shutdownTimeoutMs).then(({ cut }) => {
    send({ wr: 'stopped', cut });
    log.flush?.();
    process.exit(cut > 0 ? 1 : 0);
  }));

  const handle = (m: ToProcess, socket?: Socket): void => {
    switch (m.wr) {
      case 'conn':
        // Said first, before a byte is read: a process that dies before this reaches the primary read nothing of it.
        send({ wr: 'took', id: m.id });
        if (socket !== undefined) server.adopt(socket);
        return;
      case 'change':
        if (inOrder(m.seq)) table.apply(m.change);
        return;
      case 'config': {
        if (!inOrder(m.seq)) return;
        const next = { config: m.picture.config, packages: packagesOf(m.picture), workerCa: m.picture.workerCaPem === workerCa.pem ? workerCa : workerCaOfPicture(m.picture) };
        ({ packages, workerCa } = applyConfig({ table, ...serving }, { config, packages, workerCa }, next, policyEnv));
        config = next.config;
        server.setTimeouts(ingressTimeouts(config));
        registry = registryOf(m.picture);
        return;
      }
      case 'status':
        send({ wr: 'status', ask: m.ask, status: statusOf(control, m.verbose) });
        return;
      case 'reply': {
        const waiting = asked.get(m.ask);
        asked.delete(m.ask);
        if (m.reply.ok) waiting?.resolve(m.reply.value);
        else waiting?.reject(new Error(m.reply.error));
        return;
      }
      case 'grant':
      case 'lend':
        slots.received(m);
        return;
      case 'learned':
        table.learn(m.observations, m.from === index, (name) => registry.lookup(name));
        evidenceCounts?.received(m.observations.length);
        return;
      case 'stop':
        void stop();
        return;
      case 'start':
        return;
    }
  };
  for (const m of later.splice(0)) handle(m);
  handler = handle;

  // The primary listens; this process serves what it is handed.
  server.serveHandedConnections();
  send({ wr: 'ready' });
  log.info({ pid: process.pid }, 'process serving');
  // A terminal's Ctrl-C reaches every process of the group: each stops gracefully, as the primary asks.
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // Reloads are the primary's.
  process.on('SIGHUP', () => undefined);
  process.on('disconnect', () => void stop());
}

function main(): void {
  const early: ToProcess[] = [];
  let started = false;
  process.on('message', (m: unknown, socket?: Socket) => {
    if (!isOurs<ToProcess>(m)) return;
    if (handler !== undefined) return handler(m, socket);
    // Told to stop before it had the picture: it has nothing to finish.
    if (!started && m.wr === 'stop') process.exit(0);
    if (started || m.wr !== 'start') {
      early.push(m);
      return;
    }
    started = true;
    serve(m, early).catch((err: unknown) => {
      send({ wr: 'failed', message: (err as Error).message, exitCode: 1 });
      process.exit(1);
    });
  });
  send({ wr: 'hello' });
}

main();
