// pipbench worker: runs one OpenLambda-style worker (engine model or process) until SIGINT/SIGTERM.
import { parseChoice, parseFlags, parseNumberFlag, PROCESS_IO, stopRequested, UsageError, type CommandIO } from './support.js';
import { DEFAULT_SEED } from '../generate/index.js';
import { startProcessWorker, type ProcessWorkerOptions } from '../process-engine/index.js';
import { loadWorkload, type Workload } from '../workload.js';
import { WORKER_DEFAULTS, startSimulatedWorker, type SimWorkerOptions } from '../worker.js';

const MIB = 2 ** 20;

const USAGE = `usage: pipbench worker --registry FILE [flags]
       pipbench worker --engine process --registry FILE --repo DIR --handlers DIR --cache DIR [flags]

An OpenLambda-style worker: POST /runLambda/<name> (or /run/<name>) runs the
handler; GET /status shows its caches. Engine model (default): charges
simulated install, import and run time. Engine process: pip-installs the
handler's packages from a local repository and runs it in a real Python.

  --engine model|process which engine runs the invocations                 default model
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
                         (process: resident memory of the warm interpreters)

model engine only:
  --cpu shared|fcfs, --cores N, --cache-fraction F (above), and
  --time-scale F         multiply every cost by F (0.1 = 10x faster)        default ${WORKER_DEFAULTS.timeScale}
  --handler-ms N         the handler's own run time at scale 1              default ${WORKER_DEFAULTS.handlerMs}
  --all-warm             caches start holding every package, never evict

process engine only:
  --repo DIR             find-links folder of wheels (pipbench generate --wheels)   required
  --handlers DIR         folder of <handle>/lambda_func.py                  required
  --cache DIR            the worker's package cache folder (created)        required
  --cpus N               a CPU quota of N processors in the worker's own cgroup
                         (root; cgroup v2 or v1 cpu)                        default none: the machine's cores, shared
  --python PATH          the interpreter (with pip) to run                  default python3
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
  engine: { type: 'string' },
  repo: { type: 'string' },
  handlers: { type: 'string' },
  cache: { type: 'string' },
  cpus: { type: 'string' },
  python: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MODEL_ONLY = ['cpu', 'cores', 'cache-fraction', 'time-scale', 'handler-ms', 'all-warm'] as const;
const PROCESS_ONLY = ['repo', 'handlers', 'cache', 'cpus', 'python'] as const;

type Flags = ReturnType<typeof parseFlags<typeof OPTIONS>>;

/** The flags both engines read: where the worker listens, its name, its disk and interpreter bounds. */
function commonOptions(values: Flags): Pick<SimWorkerOptions & ProcessWorkerOptions, 'host' | 'name' | 'port' | 'cacheBytes' | 'importCacheBytes'> {
  const port = parseNumberFlag('port', values.port, { integer: true, min: 0, max: 65535 });
  const cacheMb = parseNumberFlag('cache-mb', values['cache-mb'], { min: 0 });
  const importMb = parseNumberFlag('import-cache-mb', values['import-cache-mb'], { min: 0 });
  return {
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(cacheMb !== undefined ? { cacheBytes: Math.round(cacheMb * MIB) } : {}),
    ...(importMb !== undefined ? { importCacheBytes: Math.round(importMb * MIB) } : {}),
  };
}

function workerOptions(values: Flags, workload: Workload): SimWorkerOptions {
  const opts: SimWorkerOptions = { workload, ...commonOptions(values) };
  if (values['all-warm']) opts.allWarm = true;
  if (values.cpu !== undefined) opts.cpu = parseChoice('cpu', values.cpu, ['shared', 'fcfs'] as const, WORKER_DEFAULTS.cpu);
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
  const fraction = parseNumberFlag('cache-fraction', values['cache-fraction'], { min: 0 });
  if (fraction !== undefined) opts.cacheFraction = fraction;
  const timeScale = parseNumberFlag('time-scale', values['time-scale'], { exclusiveMin: 0 });
  if (timeScale !== undefined) opts.timeScale = timeScale;
  const handlerMs = parseNumberFlag('handler-ms', values['handler-ms'], { min: 0 });
  if (handlerMs !== undefined) opts.handlerMs = handlerMs;
  return opts;
}

function processOptions(values: Flags, workload: Workload): ProcessWorkerOptions {
  for (const flag of ['repo', 'handlers', 'cache'] as const) {
    const value = values[flag];
    if (value === undefined || value === '') throw new UsageError(`--engine process needs --${flag} DIR`);
  }
  const opts: ProcessWorkerOptions = { workload, repo: values.repo as string, handlers: values.handlers as string, cache: values.cache as string, ...commonOptions(values) };
  if (values.python !== undefined) opts.python = values.python;
  const cpus = parseNumberFlag('cpus', values.cpus, { exclusiveMin: 0, max: 1024 });
  if (cpus !== undefined) opts.cpus = cpus;
  return opts;
}

function engineOf(values: Flags): 'model' | 'process' {
  const engine = parseChoice('engine', values.engine, ['model', 'process'] as const, 'model');
  const foreign = engine === 'model' ? PROCESS_ONLY : MODEL_ONLY;
  const given = foreign.find((flag) => values[flag] !== undefined);
  if (given !== undefined) throw new UsageError(`--${given} is a flag of the ${engine === 'model' ? 'process' : 'model'} engine, not of --engine ${engine}`);
  return engine;
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

  let worker: StartedWorker;
  try {
    checkFlagCombinations(values);
    const engine = engineOf(values);
    const seed = parseNumberFlag('seed', values.seed, { integer: true });
    // Validate the numeric flags before reading files, so a typo is reported as such.
    const empty: Workload = { registry: new Map(), packages: new Map(), handlers: [] };
    if (engine === 'model') workerOptions(values, empty);
    else processOptions(values, empty);
    const workload = await loadWorkload({
      registry: values.registry as string,
      ...(values.packages !== undefined ? { packages: values.packages } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    worker = engine === 'model' ? await startModel(values, workload) : await startProcess(values, workload);
  } catch (err) {
    io.stderr.write(`pipbench worker: ${(err as Error).message}\n`);
    return err instanceof UsageError ? (err as UsageError).exitCode : 1;
  }

  io.stdout.write(`pipbench worker ${worker.name} listening on ${worker.url} (${worker.describe()})\n`);
  await stopRequested(io.stop);
  await worker.close();
  const end = worker.status();
  io.stdout.write(`pipbench worker ${worker.name} stopped after ${end.invocations} invocations (${end.coldInvocations} cold)\n`);
  return 0;
}

/** What the command needs of a running worker, whichever engine. */
interface StartedWorker {
  readonly name: string;
  readonly url: string;
  /** The start line's parenthesis: the engine's set-up. */
  describe(): string;
  status(): { invocations: number; coldInvocations: number };
  close(): Promise<void>;
}

function diskText(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / MIB).toFixed(1)} MiB` : 'unbounded';
}

async function startModel(values: Flags, workload: Workload): Promise<StartedWorker> {
  const worker = await startSimulatedWorker(workerOptions(values, workload));
  const describe = (): string => {
    const s = worker.status();
    return `${s.cores} cores ${s.cpu}, disk ${diskText(s.cacheBytes)}${s.allWarm ? ' all warm' : ''}, time scale ${s.timeScale}`;
  };
  return { name: worker.name, url: worker.url, describe, status: () => worker.status(), close: () => worker.close() };
}

async function startProcess(values: Flags, workload: Workload): Promise<StartedWorker> {
  const worker = await startProcessWorker(processOptions(values, workload));
  const describe = (): string => {
    const s = worker.status();
    const cpu = s.cgroup === null ? `${s.cores} cores shared` : `${s.cpus} cpus in ${s.cgroup}`;
    return `process engine, ${s.python}, ${cpu}, disk ${diskText(s.cacheBytes)}, interpreters ${(s.importCacheBytes / MIB).toFixed(1)} MiB`;
  };
  return { name: worker.name, url: worker.url, describe, status: () => worker.status(), close: () => worker.close() };
}
