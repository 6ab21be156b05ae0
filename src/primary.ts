// The primary of a proxy of several processes (`processes` above 1): it runs the
// control plane once (config and reload, admin API, DNS, status polls) on a table
// that records its changes, sends every change to every serving process in order,
// answers the questions that concern the whole proxy (admin, /status, /metrics),
// restarts a process that dies, and stops them all gracefully.
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import { answerAdmin } from './admin.js';
import { composeProxy, listen, makeLogger, type ComposedProxy, type StartOptions } from './app.js';
import { isOurs, type Picture, type Question, type Reply, type ToPrimary, type ToProcess } from './cluster-messages.js';
import { ConfigError, type ProxyConfig } from './config.js';
import { ConnectionHandoff, type HandoffTarget } from './connection-handoff.js';
import type { LoadedPackages } from './control-plane.js';
import { processCount } from './process-share.js';
import type { Registry } from './registry.js';
import { SlotLedger } from './slot-ledger.js';
import type { WorkerCa } from './worker-ca.js';
import { combinedStatus, type ProcessStatus } from './status.js';
import { JournalingTable, type TableChange } from './table-sync.js';

/** Longest wait for every process's part of /status. */
const STATUS_TIMEOUT_MS = 5000;
/** Pause before starting again a replacement process that died while starting. */
const RESTART_PAUSE_MS = 1000;

interface Slot extends HandoffTarget {
  readonly index: number;
  readonly worker: ClusterWorker;
  /** It has the picture: numbered messages go to it from now on. */
  started: boolean;
  listening: boolean;
}

interface StatusCollection {
  readonly parts: { pid: number; index: number; status: ProcessStatus }[];
  pending: number;
  readonly done: () => void;
}

function pictureOf(config: ProxyConfig, registry: Registry, packages: LoadedPackages, workerCa: WorkerCa): Picture {
  return { config, registryPath: registry.path, functions: registry.isOpen ? null : registry.entries(), packagesText: packages.text, workerCaPem: workerCa.pem };
}

/**
 * Runs the primary until it stops: returns once it listens and has started
 * its processes;
 * SIGTERM/SIGINT stop every process gracefully, SIGHUP reloads; the process
 * exits with 0 after a clean stop, 1 when requests were cut or a process
 * could not start (2 when its configuration could not serve, e.g. the port).
 */
export async function runPrimary(config: ProxyConfig, options: StartOptions, count: number, warnings: readonly string[]): Promise<void> {
  const log = makeLogger(config.logLevel, { process: 'primary' });
  for (const message of warnings) log.warn(message);
  const slots: Slot[] = [];
  let seq = 0;
  /** Numbers a message and sends it to every process that has the picture; later ones get it in their picture. */
  const publish = (make: (seq: number) => ToProcess): number => {
    const message = make(++seq);
    for (const slot of slots) if (slot.started && slot.worker.isConnected()) slot.worker.send(message);
    return seq;
  };
  // Who holds which of each worker's connections; a process whose requests wait borrows those others leave free.
  const ledger = new SlotLedger(count, (index, message) => {
    const slot = slots[index];
    if (slot?.started && slot.worker.isConnected()) slot.worker.send(message satisfies ToProcess);
  });
  const recordChange = (change: TableChange): void => ledger.follow(change, (c) => publish((s) => ({ wr: 'change', seq: s, change: c })));
  let journal: JournalingTable | undefined;
  const proxy: ComposedProxy = await composeProxy(config, {
    ...options,
    logger: log,
    makeTable: (balancer, clock, tableOptions) => (journal = new JournalingTable(balancer, clock, tableOptions, recordChange)),
    applied: (c, registry, packages, workerCa) => {
      if (processCount(c.processes) !== count) log.warn({ processes: count, configured: c.processes }, 'processes is read at start: restart the proxy to change it');
      publish((s) => ({ wr: 'config', seq: s, picture: pictureOf(c, registry, packages, workerCa) }));
    },
  });
  const { plane, table, control } = proxy;
  const warnSmall = (id: string, limit: number): void => {
    if (limit < count) log.warn({ worker: id, limit, processes: count }, `worker ${id} has ${limit} connections for ${count} processes: ${count - limit} of them get none and never send it requests themselves`);
  };
  for (const w of table.workers) warnSmall(w.id, w.limit);
  table.listen({ added: (w) => warnSmall(w.id, w.limit), changed: (w) => warnSmall(w.id, w.limit) });
  const metrics = new AggregatorRegistry();
  // The primary listens; each connection goes to a serving process (see connection-handoff.ts). One that
  // waits longer than a request may wait in a queue is answered 503 queue_timeout.
  const handoff = new ConnectionHandoff(
    () => plane.config.queueTimeoutMs,
    (code, message) => log.warn({ code, reason: message }, 'the primary answered a connection no serving process took'),
  );
  let url = '';

  let stopping = false;
  let announced = false;
  let failedExit = 0;
  let cut = 0;
  let unclean = false;
  let nextAsk = 0;
  const collections = new Map<number, StatusCollection>();

  const fatal = (message: string, exitCode: number): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`warmroute: ${message}\n`);
    log.fatal({ reason: message }, 'the proxy cannot serve; stopping');
    handoff.close();
    for (const slot of slots) if (!slot.worker.isDead()) slot.worker.process.kill('SIGKILL');
    void plane.abort().finally(() => {
      log.flush?.();
      process.exit(exitCode);
    });
  };

  const collectStatus = (verbose: boolean): Promise<unknown> => new Promise((resolve, reject) => {
    const serving = slots.filter((s) => s.listening && s.worker.isConnected());
    if (serving.length === 0) return reject(new Error('no process is serving'));
    const id = nextAsk++;
    const timer = setTimeout(() => {
      collections.delete(id);
      reject(new Error(`${collection.pending} process(es) did not report within ${STATUS_TIMEOUT_MS} ms`));
    }, STATUS_TIMEOUT_MS);
    const collection: StatusCollection = {
      parts: [],
      pending: serving.length,
      done: () => {
        clearTimeout(timer);
        collections.delete(id);
        resolve(combinedStatus(collection.parts.sort((a, b) => a.index - b.index)));
      },
    };
    collections.set(id, collection);
    for (const slot of serving) slot.worker.send({ wr: 'status', ask: id, verbose } satisfies ToProcess);
  });

  const answer = async (question: Question): Promise<unknown> => {
    if (question.what === 'admin') return answerAdmin(control, question.request);
    if (question.what === 'status') return collectStatus(question.verbose);
    return metrics.clusterMetrics();
  };

  const onMessage = (slot: Slot, m: ToPrimary): void => {
    switch (m.wr) {
      case 'hello': {
        // A replacement that was still loading when the proxy began to stop missed the stop message: it never serves.
        if (stopping) {
          slot.worker.send({ wr: 'stop' } satisfies ToProcess);
          return;
        }
        slot.started = true;
        const held = ledger.joined(slot.index);
        const workers = journal!.snapshot().map((w) => ({ ...w, share: held.get(w.id) ?? 0 }));
        slot.worker.send({ wr: 'start', index: slot.index, count, seq, picture: pictureOf(plane.config, plane.registry, plane.packages, plane.workerCa), workers } satisfies ToProcess);
        return;
      }
      case 'want':
        return ledger.want(slot.index, m.id, m.count);
      case 'handBack':
        return ledger.handedBack(slot.index, m.id, m.count, m.seq);
      case 'took':
        return handoff.took(slot, m.id);
      case 'ready':
        slot.listening = true;
        handoff.ready(slot);
        if (announced) {
          log.info({ index: slot.index, pid: slot.worker.process.pid }, 'process restarted and serving');
        } else if (slots.length === count && slots.every((s) => s.listening)) {
          announced = true;
          const registry = plane.registry;
          log.info({ url, processes: count, pids: slots.map((s) => s.worker.process.pid), balancer: plane.config.balancer, workers: table.workers.map((w) => w.id), functions: registry.isOpen ? 'any' : registry.size }, 'warmroute listening');
        }
        return;
      case 'failed':
        if (announced) {
          // A replacement that cannot start: the others serve on; its exit starts another after a pause.
          log.error({ index: slot.index, reason: m.message }, 'a replacement process cannot serve');
          return;
        }
        failedExit = m.exitCode;
        return fatal(`process ${slot.index} cannot serve: ${m.message}`, m.exitCode);
      case 'ejected':
        log.warn({ worker: m.id, reason: m.reason, index: slot.index }, 'a process saw the worker fail; every process ejects it');
        publish((s) => ({ wr: 'change', seq: s, change: { kind: 'eject', id: m.id, reason: m.reason } }));
        return;
      case 'gap':
        log.error({ index: slot.index, expected: m.expected, got: m.got }, 'a process missed a change; replacing it');
        slot.worker.process.kill('SIGKILL');
        return;
      case 'ask':
        answer(m.question).then(
          (value): Reply => ({ ok: true, value }),
          (err: unknown): Reply => ({ ok: false, error: (err as Error).message }),
        ).then((reply) => {
          if (slot.worker.isConnected()) slot.worker.send({ wr: 'reply', ask: m.ask, reply } satisfies ToProcess);
        });
        return;
      case 'status': {
        const collection = collections.get(m.ask);
        if (collection === undefined) return;
        collection.parts.push({ pid: slot.worker.process.pid ?? 0, index: slot.index, status: m.status });
        if (--collection.pending === 0) collection.done();
        return;
      }
      case 'stopped':
        cut += m.cut;
        return;
      case 'learned': {
        // To every process, the sender too: all fold the same observations in the primary's order.
        const relayed: ToProcess = { wr: 'learned', from: slot.index, observations: m.observations };
        for (const each of slots) if (each.started && each.worker.isConnected()) each.worker.send(relayed);
        return;
      }
    }
  };

  const onExit = (slot: Slot, code: number | null, signal: string | null): void => {
    // Its connections closed with it: the others may use them until a replacement joins.
    if (!stopping) ledger.left(slot.index);
    if (stopping) {
      if (code !== 0) unclean = true;
      if (slots.every((s) => s.worker.isDead())) finish();
      return;
    }
    if (!announced) {
      fatal(`process ${slot.index} exited before it could serve (${signal ?? `exit code ${code}`})`, failedExit || 1);
      return;
    }
    if (!slot.listening) {
      // A replacement that died starting: try again after a pause rather than in a tight loop.
      log.error({ index: slot.index, code, signal }, `replacement process exited before it could serve; trying again in ${RESTART_PAUSE_MS} ms`);
      setTimeout(() => { if (!stopping) fork(slot.index); }, RESTART_PAUSE_MS);
      return;
    }
    log.error({ index: slot.index, pid: slot.worker.process.pid, code, signal }, 'process exited; starting another in its place');
    fork(slot.index);
  };

  const fork = (index: number): void => {
    const worker = cluster.fork();
    const slot: Slot = {
      index,
      worker,
      started: false,
      listening: false,
      send: (id, socket) => {
        if (!worker.isConnected()) return false;
        // The primary keeps its copy until the process says it took it. A failed send is followed by the channel's close.
        worker.send({ wr: 'conn', id } satisfies ToProcess, socket, { keepOpen: true }, () => undefined);
        return true;
      },
    };
    slots[index] = slot;
    worker.on('message', (m: unknown) => { if (isOurs<ToPrimary>(m)) onMessage(slot, m); });
    // Once it has exited and every message it sent has been read (the child process's 'close'; the cluster
    // worker's 'disconnect' never comes while a connection sent to it waits for node's own receipt), a
    // connection it did not take goes to another.
    worker.process.once('close', () => handoff.gone(slot));
    worker.on('exit', (code, signal) => onExit(slot, code, signal));
  };

  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (cut > 0) log.error({ cut }, 'forced shutdown: requests were cut');
    if (unclean) log.error('a process did not stop cleanly');
    log.flush?.();
    process.exit(cut > 0 || unclean ? 1 : 0);
  };

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, timeoutMs: plane.config.shutdownTimeoutMs }, 'shutting down: waiting for running and queued requests');
    handoff.close();
    void plane.abort();
    for (const slot of slots) if (slot.worker.isConnected()) slot.worker.send({ wr: 'stop' } satisfies ToProcess);
    if (slots.every((s) => s.worker.isDead())) finish();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    plane.reload().catch((err: unknown) => log.error({ err: (err as Error).message }, 'reload failed; the running configuration stays'));
  });

  try {
    url = await listen(handoff.server, plane.config);
  } catch (err) {
    return fatal((err as Error).message, err instanceof ConfigError ? 2 : 1);
  }
  // A failed accept (out of file descriptors, say) loses that connection only, as with one process.
  handoff.server.on('error', (err) => log.error({ err: err.message }, 'accepting a connection failed'));
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./serving-process.js', import.meta.url)), args: [] });
  for (let i = 0; i < count; i++) fork(i);
}
