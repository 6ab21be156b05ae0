#!/usr/bin/env node
// pipbench: workload generator, simulated OpenLambda worker, load runner, experiment driver.
// Each subcommand lives in pipbench/commands/<name>.ts and is loaded only when used.
const commands: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  generate: { summary: 'generate a package graph, handlers and an olscheduler registry', load: () => import('./commands/generate.js') },
  worker: { summary: 'run a simulated OpenLambda worker with a package cache', load: () => import('./commands/worker.js') },
  run: { summary: 'send a workload to a URL and record every request', load: () => import('./commands/run.js') },
  calibrate: { summary: 'the worker model against the thesis logs, and (--fit) the search for its parameters; writes results/calibration/', load: () => import('./commands/calibrate.js') },
  demo: { summary: 'simulated workers and a warmroute proxy in one process, for trying it out', load: () => import('./commands/demo.js') },
  experiment: { summary: 'compare routing policies on one workload; writes results/<name>/', load: () => import('./commands/experiment.js') },
  simulate: { summary: 'the experiment in virtual time, over placements and seeds, with intervals', load: () => import('./commands/simulate.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: pipbench <command> [flags]   (pipbench <command> --help for its flags)\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`pipbench: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.main(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`pipbench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
