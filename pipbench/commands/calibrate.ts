// pipbench calibrate: the worker model against the thesis's logs; writes results/calibration/.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calibrate, calibrationCharts, calibrationMarkdown, type CalibrationResult } from '../calibrate.js';
import { MODEL_DEFAULTS } from '../model.js';
import { parseFlags, PROCESS_IO, UsageError, reportingUsageErrors, type CommandIO } from './support.js';

const USAGE = `usage: pipbench calibrate [--seeds N] [--out-dir DIR] [--per-worker-cpu] [--json] [--quiet]

Runs the thesis workload (pipbench/data/olscheduler-eval: 100 handlers, one
request every 200 ms for 5 minutes, 5 workers) through the worker model in
virtual time under round-robin and random (the calibration set) and
least-loaded and pkg-aware at every threshold the thesis measured (the
validation set), and compares each with the thesis's log.

  --seeds N          seeds per row (arrivals, random draws, placement)   default 10
  --out-dir DIR      write calibration.md, calibration.json and SVG charts here
                     (created if missing)                                 default results/calibration
  --per-worker-cpu   each worker on its own ${MODEL_DEFAULTS.cores} cores instead of the
                     5 workers sharing one 4-core host
  --json             print calibration.json to stdout instead of the table
  --quiet            write the files, print nothing
  -h, --help         this text
`;

export async function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('calibrate', io, async () => {
    const values = parseFlags(argv, {
      seeds: { type: 'string' },
      'out-dir': { type: 'string' },
      'per-worker-cpu': { type: 'boolean' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const seeds = values.seeds === undefined ? 10 : Number(values.seeds);
    if (!Number.isInteger(seeds) || seeds < 1 || seeds > 1000) throw new UsageError(`--seeds must be an integer from 1 to 1000, got "${values.seeds}"`);
    const outDir = values['out-dir'] ?? join('results', 'calibration');
    const result: CalibrationResult = await calibrate({ seeds, sharedHost: !values['per-worker-cpu'] });
    const command = ['pipbench calibrate', ...argv].join(' ');
    const markdown = calibrationMarkdown(result, command);
    const json = JSON.stringify(result, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? 'Infinity' : v), 2) + '\n';
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'calibration.md'), markdown);
    await writeFile(join(outDir, 'calibration.json'), json);
    for (const [file, svg] of Object.entries(calibrationCharts(result))) await writeFile(join(outDir, file), svg);
    if (values.json) io.stdout.write(json);
    else if (!values.quiet) io.stdout.write(markdown);
    return 0;
  });
}
