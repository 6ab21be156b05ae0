// pipbench demo: simulated workers (worker1..workerN) and a warmroute proxy in
// one process, so that one command shows package-aware routing at work. The
// proxy is started as a library (`startProxy`); it knows nothing of pipbench.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { startProxy, type RunningProxy } from '../../src/app.js';
import { fileErrorReason, loadWorkload } from '../workload.js';
import { startSimulatedWorker, type SimulatedWorker } from '../worker.js';
import { InputError, parseFlags, parseNumberFlag, PROCESS_IO, reportingUsageErrors, stopRequested, type CommandIO } from './support.js';

export const DEMO_DEFAULTS = { config: 'config/default.json', workers: 4, timeScale: 0.1 } as const;

const USAGE = `usage: pipbench demo [-c FILE] [--workers N] [--time-scale X]

Starts N simulated workers (worker1..workerN) on loopback and a warmroute proxy
in front of them, configured by FILE (the proxy's config-file format; its
"registry" is also what the workers serve). Stops on Ctrl-C.

  -c, --config FILE   proxy config                          default ${DEMO_DEFAULTS.config}
  --workers N         simulated workers                     default ${DEMO_DEFAULTS.workers}
  --time-scale X      worker time scale (0.1: 10x faster)   default ${DEMO_DEFAULTS.timeScale}
  -h, --help          this text
`;

/** Keys the proxy no longer reads: the demo's own settings used to live in its config. */
const DEMO_ONLY_KEYS = ['simulatedWorkers', 'simulatedTimeScale', 'demo'];

export interface DemoOptions {
  /** The proxy config object (config-file format); `registry` is required. */
  config: Record<string, unknown>;
  /** Relative paths in the config resolve against this folder. */
  baseDir: string;
  workers: number;
  timeScale: number;
}

export interface RunningDemo {
  readonly proxy: RunningProxy;
  readonly workers: readonly SimulatedWorker[];
  /** The lines printed for the user: what to try. */
  readonly hint: string;
  close(): Promise<void>;
}

export async function startDemo(opts: DemoOptions): Promise<RunningDemo> {
  const registry = opts.config.registry;
  if (typeof registry !== 'string' || registry === '') throw new InputError('the config needs "registry": the simulated workers serve its functions');
  const workload = await loadWorkload({ registry: resolve(opts.baseDir, registry) });
  const workers: SimulatedWorker[] = [];
  try {
    for (let i = 1; i <= opts.workers; i++) {
      workers.push(await startSimulatedWorker({ workload, name: `worker${i}`, timeScale: opts.timeScale }));
    }
    const config: Record<string, unknown> = { ...opts.config };
    for (const key of DEMO_ONLY_KEYS) delete config[key];
    const configured = Array.isArray(config.workers) ? config.workers : [];
    // Stable ids: a ring places worker1..N the same on every run, whatever ports they got.
    config.workers = [...configured, ...workers.map((w) => ({ url: w.url, id: w.name }))];
    const proxy = await startProxy(config, { baseDir: opts.baseDir });
    const fn = proxy.registry.names().next().value ?? 'hello';
    const hint =
      `\nwarmroute is routing to ${opts.workers} simulated workers with the ${proxy.config().balancer} policy. Try:\n` +
      `  curl -s -X POST ${proxy.url}/runLambda/${fn} -d '{}'        (twice: the second run is warm)\n` +
      `  curl -s ${proxy.url}/status\n\n`;
    return {
      proxy,
      workers,
      hint,
      async close() {
        await proxy.close();
        await Promise.all(workers.map((w) => w.close()));
      },
    };
  } catch (err) {
    await Promise.all(workers.map((w) => w.close()));
    throw err;
  }
}

export async function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('demo', io, async () => {
    const values = parseFlags(argv, {
      config: { type: 'string', short: 'c' },
      workers: { type: 'string' },
      'time-scale': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const workers = parseNumberFlag('workers', values.workers, { integer: true, min: 1, max: 1000 }) ?? DEMO_DEFAULTS.workers;
    const timeScale = parseNumberFlag('time-scale', values['time-scale'], { exclusiveMin: 0 }) ?? DEMO_DEFAULTS.timeScale;
    const path = values.config ?? DEMO_DEFAULTS.config;
    let config: unknown;
    try {
      config = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      throw new InputError(`config ${path}: ${fileErrorReason(err)}`);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new InputError(`config ${path}: must be a JSON object`);
    const demo = await startDemo({ config: config as Record<string, unknown>, baseDir: dirname(resolve(path)), workers, timeScale });
    io.stderr.write(demo.hint);
    await stopRequested(io.stop);
    await demo.close();
    return 0;
  });
}
