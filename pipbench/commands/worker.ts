// pipbench worker: runs one simulated OpenLambda worker until SIGINT/SIGTERM.
import { parseFlags, parseNumberFlag, PROCESS_IO, UsageError, type CommandIO } from './support.js';
import { DEFAULT_SEED } from '../generate.js';
import { loadWorkload, type Workload } from '../workload.js';
import { WORKER_DEFAULTS, startSimulatedWorker, type SimWorkerOptions, type SimulatedWorker } from '../worker.js';


const MIB = 2 ** 20;

const USAGE = `usage: pipbench worker --registry FILE [flags]

A simulated OpenLambda worker: POST /runLambda/<name> (or /run/<name>) charges
simulated install, import and run time; GET /status shows its caches.

  --registry FILE        olscheduler registry [{"handle","pkgs"}]            required
  --packages FILE        package table (pipbench generate's packages.json, or
                         pipbench's own spec); names it lacks are filled in
  --seed N               seed of the fill-in for names without an entry     default ${DEFAULT_SEED}
  --host HOST            address to listen on                               default ${WORKER_DEFAULTS.host}
  --port N               port (0 = any free port)                           default ${WORKER_DEFAULTS.port}
  --name NAME            name in responses and status                       default worker-<port>
  --cpu shared|fcfs      shared: processor sharing; fcfs: an invocation     default ${WORKER_DEFAULTS.cpu}
                         holds a core, the rest wait first come first served
  --cores N              processors (shared: may be fractional)             default ${WORKER_DEFAULTS.cores}
  --cache-mb N           disk bound for installed packages in MiB, LRU      default unbounded
  --cache-fraction F     disk bound as a fraction of the workload's footprint
  --import-cache-mb N    interpreter cache bound in MiB of import memory    default 0 (none)
  --time-scale F         multiply every cost by F (0.1 = 10x faster)        default ${WORKER_DEFAULTS.timeScale}
  --handler-ms N         the handler's own run time at scale 1              default ${WORKER_DEFAULTS.handlerMs}
  --all-warm             caches start holding every package, never evict
  -h, --help             this text
`;

const OPTIONS = {
  registry: { type: 'string' },
  packages: { type: 'string' },
  seed: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  name: { type: 'string' },
  cpu: { type: 'string' },
  cores: { type: 'string' },
  'import-cache-mb': { type: 'string' },
  'cache-mb': { type: 'string' },
  'cache-fraction': { type: 'string' },
  'time-scale': { type: 'string' },
  'handler-ms': { type: 'string' },
  'all-warm': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseFlags<typeof OPTIONS>>;



function workerOptions(values: Flags, workload: Workload): SimWorkerOptions {
  const opts: SimWorkerOptions = { workload };
  if (values.host !== undefined) opts.host = values.host;
  if (values.name !== undefined) opts.name = values.name;
  if (values['all-warm']) opts.allWarm = true;
  const port = parseNumberFlag('port', values.port, { integer: true, min: 0, max: 65535 });
  if (port !== undefined) opts.port = port;
  if (values.cpu !== undefined) {
    if (values.cpu !== 'shared' && values.cpu !== 'fcfs') throw new UsageError(`--cpu must be shared or fcfs, got "${values.cpu}"`);
    opts.cpu = values.cpu;
  }
  const fcfs = (opts.cpu ?? WORKER_DEFAULTS.cpu) === 'fcfs';
  let cores: number | undefined;
  try {
    cores = fcfs ? parseNumberFlag('cores', values.cores, { integer: true, min: 1 }) : parseNumberFlag('cores', values.cores, { exclusiveMin: 0 });
  } catch (err) {
    // Fractional cores are fine under the default shared CPU: say why they are not here.
    if (fcfs && err instanceof UsageError) throw new UsageError(`${err.message} with --cpu fcfs (whole cores, first come first served)`);
    throw err;
  }
  if (cores !== undefined) opts.cores = cores;
  const importMb = parseNumberFlag('import-cache-mb', values['import-cache-mb'], { min: 0 });
  if (importMb !== undefined) opts.importCacheBytes = Math.round(importMb * MIB);
  const cacheMb = parseNumberFlag('cache-mb', values['cache-mb'], { min: 0 });
  if (cacheMb !== undefined) opts.cacheBytes = Math.round(cacheMb * MIB);
  const fraction = parseNumberFlag('cache-fraction', values['cache-fraction'], { min: 0 });
  if (fraction !== undefined) opts.cacheFraction = fraction;
  const timeScale = parseNumberFlag('time-scale', values['time-scale'], { exclusiveMin: 0 });
  if (timeScale !== undefined) opts.timeScale = timeScale;
  const handlerMs = parseNumberFlag('handler-ms', values['handler-ms'], { min: 0 });
  if (handlerMs !== undefined) opts.handlerMs = handlerMs;
  return opts;
}

function checkFlagCombinations(values: Flags): void {
  if (values.registry === undefined || values.registry === '') throw new UsageError('--registry FILE is required');
  if (values['cache-mb'] !== undefined && values['cache-fraction'] !== undefined) {
    throw new UsageError('give either --cache-mb or --cache-fraction, not both');
  }
  if (values['all-warm'] && (values['cache-mb'] !== undefined || values['cache-fraction'] !== undefined)) {
    throw new UsageError('--all-warm holds every package; it cannot be combined with a cache bound');
  }
}

export async function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  let values: Flags;
  try {
    values = parseFlags(argv, OPTIONS);
  } catch (err) {
    io.stderr.write(`pipbench worker: ${(err as Error).message}\n(pipbench worker --help lists the flags)\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }

  let worker: SimulatedWorker;
  try {
    checkFlagCombinations(values);
    const seed = parseNumberFlag('seed', values.seed, { integer: true });
    // Validate the numeric flags before reading files, so a typo is reported as such.
    workerOptions(values, { registry: new Map(), packages: new Map(), handlers: [] });
    const workload = await loadWorkload({
      registry: values.registry as string,
      ...(values.packages !== undefined ? { packages: values.packages } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    worker = await startSimulatedWorker(workerOptions(values, workload));
  } catch (err) {
    io.stderr.write(`pipbench worker: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }

  const s = worker.status();
  io.stdout.write(
    `pipbench worker ${worker.name} listening on ${worker.url} ` +
      `(${s.cores} cores ${s.cpu}, disk ${Number.isFinite(s.cacheBytes) ? `${(s.cacheBytes / MIB).toFixed(1)} MiB` : 'unbounded'}${s.allWarm ? ' all warm' : ''}, time scale ${s.timeScale})\n`,
  );
  await stopRequested(io.stop);
  await worker.close();
  const end = worker.status();
  io.stdout.write(`pipbench worker ${worker.name} stopped after ${end.invocations} invocations (${end.coldInvocations} cold)\n`);
  return 0;
}

function stopRequested(stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (stop?.aborted) done();
    else stop?.addEventListener('abort', done, { once: true });
  });
}
