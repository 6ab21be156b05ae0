// pipbench generate: writes packages.json, registry.json and handlers.txt.
import { parseFlags, parseNumberFlag, PROCESS_IO, UsageError, type CommandIO } from './support.js';
import {
  DEFAULT_SEED,
  generateWorkload,
  loadCostSamples,
  workloadFromRegistry,
  consistentHandlers,
  writeWorkloadFiles,
  type GeneratedWorkload,
} from '../generate/index.js';
import type { PackageInfo } from '../package-info.js';
import { footprintBytes, parseRegistry, readText } from '../workload.js';
import { REPOSITORY_DEFAULTS, writeHandlers, writePackageRepository } from '../generate/wheels.js';
import { join } from 'node:path';

const DEFAULTS = { packages: 1000, handlers: 100, levels: 8, zipf: 1.4, importsMean: 4, repeat: 10 } as const;

const USAGE = `usage: pipbench generate --out DIR [flags]
       pipbench generate --out DIR --from-registry FILE [--seed N] [--repeat K]
       either one with --wheels [--size-scale F] [--cost-scale F]

Writes DIR/packages.json (the package table), DIR/registry.json (olscheduler
registry, each handler's packages largest first) and DIR/handlers.txt (the
handler list, each handler --repeat times). The same flags give byte-identical files.

  --out DIR              output directory (created if missing)             required
  --packages N           packages in the graph                             default ${DEFAULTS.packages}
  --handlers M           handlers                                          default ${DEFAULTS.handlers}
  --levels L             dependency levels                                 default ${DEFAULTS.levels}
  --zipf S               Zipf exponent of the handlers' import choice      default ${DEFAULTS.zipf}
  --imports-mean K       mean packages a handler imports directly (>= 1)   default ${DEFAULTS.importsMean}
  --repeat K             times each handler appears in handlers.txt        default ${DEFAULTS.repeat}
  --seed N               integer seed                                      default ${DEFAULT_SEED}
  --from-registry FILE   keep this olscheduler registry (order as given) and fill in
                         a package table for its names: sizes drawn, then handed
                         out so the lists read largest first where they agree
  --wheels               also write DIR/repo/ (one real wheel per package, a
                         find-links folder with a PEP 503 index in repo/simple/)
                         and DIR/handlers/<handle>/ (lambda_func.py, packages.txt)
  --size-scale F         with --wheels: multiplies sizes and import memory default ${REPOSITORY_DEFAULTS.sizeScale}
  --cost-scale F         with --wheels: multiplies install and import CPU  default ${REPOSITORY_DEFAULTS.costScale}
  -h, --help             this text
`;

const OPTIONS = {
  out: { type: 'string' },
  packages: { type: 'string' },
  handlers: { type: 'string' },
  levels: { type: 'string' },
  zipf: { type: 'string' },
  'imports-mean': { type: 'string' },
  repeat: { type: 'string' },
  seed: { type: 'string' },
  'from-registry': { type: 'string' },
  wheels: { type: 'boolean' },
  'size-scale': { type: 'string' },
  'cost-scale': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseFlags<typeof OPTIONS>>;

// Far beyond any benchmark, low enough that a typo cannot exhaust memory.
const LIMITS = { packages: 1_000_000, handlers: 100_000, levels: 100, repeat: 10_000, zipf: 10, importsMean: 10_000, scale: 10 } as const;

export async function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  let values: Flags;
  try {
    values = parseFlags(argv, OPTIONS);
  } catch (err) {
    io.stderr.write(`pipbench generate: ${(err as Error).message}\n(pipbench generate --help lists the flags)\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    if (values.out === undefined || values.out === '') throw new UsageError('--out DIR is required');
    const seed = parseNumberFlag('seed', values.seed, { integer: true, min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }) ?? DEFAULT_SEED;
    const repeat = parseNumberFlag('repeat', values.repeat, { integer: true, min: 1, max: LIMITS.repeat }) ?? DEFAULTS.repeat;
    const scale = (flag: 'size-scale' | 'cost-scale'): number | undefined => {
      const value = parseNumberFlag(flag, values[flag], { exclusiveMin: 0, max: LIMITS.scale });
      if (value !== undefined && !values.wheels) throw new UsageError(`--${flag} scales the wheels and needs --wheels`);
      return value;
    };
    const sizeScale = scale('size-scale') ?? REPOSITORY_DEFAULTS.sizeScale;
    const costScale = scale('cost-scale') ?? REPOSITORY_DEFAULTS.costScale;
    const samples = await loadCostSamples();
    let workload: GeneratedWorkload;
    if (values['from-registry'] !== undefined) {
      const clash = (['packages', 'handlers', 'levels', 'zipf', 'imports-mean'] as const).find((k) => values[k] !== undefined);
      if (clash) throw new UsageError(`--${clash} describes a generated graph and cannot be combined with --from-registry`);
      const path = values['from-registry'];
      workload = workloadFromRegistry(parseRegistry(await readText(path, 'registry'), path), seed, repeat, samples);
    } else {
      workload = generateWorkload(
        {
          packages: parseNumberFlag('packages', values.packages, { integer: true, min: 1, max: LIMITS.packages }) ?? DEFAULTS.packages,
          handlers: parseNumberFlag('handlers', values.handlers, { integer: true, min: 1, max: LIMITS.handlers }) ?? DEFAULTS.handlers,
          levels: parseNumberFlag('levels', values.levels, { integer: true, min: 1, max: LIMITS.levels }) ?? DEFAULTS.levels,
          zipf: parseNumberFlag('zipf', values.zipf, { exclusiveMin: 0, max: LIMITS.zipf }) ?? DEFAULTS.zipf,
          importsMean: parseNumberFlag('imports-mean', values['imports-mean'], { min: 1, max: LIMITS.importsMean }) ?? DEFAULTS.importsMean,
          repeat,
          seed,
        },
        samples,
      );
    }
    const paths = await writeWorkloadFiles(values.out, workload);
    let wheels = '';
    if (values.wheels) {
      const repo = await writePackageRepository(workload.packages, join(values.out, 'repo'), { sizeScale, costScale, seed });
      const handlers = await writeHandlers(workload.registry, join(values.out, 'handlers'), workload.packages);
      const sum = (key: 'wheelBytes' | 'installedBytes'): number => repo.wheels.reduce((total, w) => total + w[key], 0);
      wheels =
        `wheels at size scale ${sizeScale}, cost scale ${costScale}: ${repo.wheels.length} wheels (${mib(sum('wheelBytes'))} MiB, ` +
        `${mib(sum('installedBytes'))} MiB installed) in ${repo.dir}, ${handlers.handlers.length} handler folders in ${handlers.dir}\n`;
    }
    io.stdout.write(`${summarize(workload)}${values['from-registry'] !== undefined ? keySummary(workload) : ''}${wheels}wrote ${paths.join(', ')}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`pipbench generate: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** How well the filled sizes keep the registry's meaning: lists largest first, routing keys large. */
function keySummary(workload: GeneratedWorkload): string {
  const table = new Map<string, PackageInfo>(workload.packages.map((p) => [p.name, p]));
  const bySize = [...workload.packages].sort((a, b) => b.bytes - a.bytes).map((p) => p.name);
  const keys = new Map<string, number>();
  for (const e of workload.registry) if (e.pkgs[0] !== undefined) keys.set(e.pkgs[0], (keys.get(e.pkgs[0]) ?? 0) + 1);
  const [hot, count] = [...keys].sort((a, b) => b[1] - a[1])[0] ?? ['-', 0];
  return (
    `${consistentHandlers(workload.registry, table)} of ${workload.registry.length} handlers list their packages largest first; ` +
    `the most used key ${hot} (${count} handlers) is the ${bySize.indexOf(hot) + 1}th largest of ${bySize.length} packages\n`
  );
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

function summarize(workload: GeneratedWorkload): string {
  const table = new Map<string, PackageInfo>(workload.packages.map((p) => [p.name, p]));
  const used = workload.registry.flatMap((e) => e.pkgs);
  const perHandler = used.length / workload.registry.length;
  return (
    `${workload.packages.length} packages, ${workload.registry.length} handlers ` +
    `(${perHandler.toFixed(1)} packages each on average, ${new Set(used).size} distinct), ` +
    `footprint of the handlers' packages ${mib(footprintBytes(used, table))} MiB\n`
  );
}
