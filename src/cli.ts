#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, configFlags, describeConfig, loadConfig, loadConfigFile, type ProxyConfig } from './config.js';
import { nearMiss } from './did-you-mean.js';
import { readPackageTable, type PackageTable } from './packages.js';
import { processCount } from './process-share.js';
import { Registry } from './registry.js';
import { UsageError } from './usage-error.js';
import { readWorkerCa } from './worker-ca.js';

const usage = {
  main: `usage: warmroute <command> [flags]

commands:
  start                    run the proxy
  check -c FILE            validate a config, its registry, package table and worker CAs without starting
  workers add URL...       add workers to a running proxy
  workers remove URL...    remove workers from a running proxy
  workers drain URL...     stop sending new requests to workers; their in-flight requests finish
  status                   print a running proxy's status (JSON)

  -V, --version            print the version

Run "warmroute <command> --help" for its flags.
`,
  start: () => `usage: warmroute start [-c FILE] [--KEY VALUE ...]

Runs the proxy. Settings come from defaults < the JSON file < WARMROUTE_* environment variables < flags.

  -c, --config FILE   JSON config (warmroute or olscheduler format)
${describeConfig().map((d) => `  ${`${d.flag} VALUE`.padEnd(32)} ${d.doc} [${d.env}; default ${JSON.stringify(d.default)}]`).join('\n')}
`,
  check: `usage: warmroute check -c FILE [--strict] [--KEY VALUE ...]

Validates the config FILE (with WARMROUTE_* variables and flags, as start would read them),
then reads its registry, package table and worker CA bundle, without starting anything. Prints a one-line
summary on stdout and warnings on stderr. Exit status 0: valid; 2: invalid (the message names
the problem).

  -c, --config FILE   the config to check
  --strict            every unknown key is an error, not a warning (keys starting with "_" stay comments)
`,
  workers: `usage: warmroute workers add|remove|drain URL... [-c FILE] [--proxy URL] [--token TOKEN]

Adds, removes or drains workers on the running proxy that FILE configures (host, port, adminToken),
or on --proxy. A URL is host:port or http://host:port; "host:port=2" gives a weight of 2 (add).
A drained worker takes nothing new; its queued requests move to the shared queue and its
in-flight requests finish.
`,
  status: `usage: warmroute status [-c FILE] [--proxy URL] [--token TOKEN]

Prints the running proxy's /status: balancer, queue, and every worker's load and health.
`,
};

function fail(message: string, code = 2): number {
  process.stderr.write(`warmroute: ${message}\n`);
  return code;
}

interface ConfigArgs {
  configFile?: string;
  /** Config flags, checked again (values included) by the config loader. */
  args: string[];
  help: boolean;
  strict: boolean;
}

/** Splits `start`/`check` arguments into -c, --strict (check only) and config flags; rejects unknown flags. */
function startArgs(argv: string[], command: 'start' | 'check' = 'start'): ConfigArgs {
  const flags = configFlags();
  const parsed: ConfigArgs = { args: [], help: false, strict: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { ...parsed, help: true };
    if (command === 'check' && arg === '--strict') {
      parsed.strict = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const [flag, inline] = eq === -1 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
    if (flag === '-c' || flag === '--config') {
      const file = inline ?? argv[++i];
      if (file === undefined) throw new UsageError(`${flag} needs a file`);
      parsed.configFile = file;
    } else if (flag.startsWith('--') && flags.has(flag.slice(2))) {
      // The loader reads the value (a boolean flag may stand alone).
      parsed.args.push(arg);
      // A negative number is a value (`--processes -1`), so that its key's rule names it; anything else starting with "-" is a flag.
      if (inline === undefined && argv[i + 1] !== undefined && !/^-(?![\d.])/.test(argv[i + 1]!)) parsed.args.push(argv[++i]!);
    } else {
      const guess = flag.startsWith('--') ? nearMiss(flag.slice(2), flags.keys()) : undefined;
      throw new UsageError(`unknown flag "${arg}" for ${command}${guess === undefined ? '' : ` (did you mean "--${guess}"?)`} (see warmroute ${command} --help)`);
    }
  }
  return parsed;
}

async function start(argv: string[]): Promise<number> {
  const { configFile, args, help } = startArgs(argv);
  if (help) {
    process.stdout.write(usage.start());
    return 0;
  }
  const warnings: string[] = [];
  const onWarning = (message: string): void => { warnings.push(message); };
  const config = configFile === undefined
    ? loadConfig({ env: process.env, args, source: 'flags', onWarning })
    : loadConfigFile(configFile, { env: process.env, args, onWarning });
  const count = processCount(config.processes);
  if (count > 1) {
    // Several processes: this one becomes the primary. With one, nothing of the kind exists.
    const { runPrimary } = await import('./primary.js');
    await runPrimary(config, { configPath: configFile, env: process.env, args }, count, warnings);
    return -1; // keep running
  }
  const { startProxyWith } = await import('./app.js');
  const proxy = await startProxyWith(config, { configPath: configFile, env: process.env, args });
  for (const message of warnings) proxy.log.warn(message);
  let stopping = false;
  // The first SIGTERM/SIGINT shuts down gracefully; a second one means now: queued requests are answered
  // 503 at once, running ones cut, exit 1. The handlers stay, so Node's default action never follows.
  const stop = (signal: string): void => {
    if (stopping) {
      proxy.log.warn({ signal }, 'second signal: shutting down now');
      void proxy.close(true);
      return;
    }
    stopping = true;
    proxy.log.info({ signal, timeoutMs: proxy.config().shutdownTimeoutMs }, 'shutting down: waiting for running and queued requests');
    void proxy.close().then(({ cut, refused, forced }) => {
      if (forced) proxy.log.error({ cut, refused }, 'forced shutdown: queued requests were answered 503 and running ones cut');
      proxy.log.flush?.();
      process.exit(forced ? 1 : 0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => {
    proxy.reload().catch((err: unknown) => proxy.log.error({ err: (err as Error).message }, 'reload failed; the running configuration stays'));
  });
  return -1; // keep running
}

async function check(argv: string[]): Promise<number> {
  const { configFile, args, help, strict } = startArgs(argv, 'check');
  if (help) {
    process.stdout.write(usage.check);
    return 0;
  }
  if (configFile === undefined) throw new UsageError(`check needs -c FILE\n${usage.check}`);
  const warnings: string[] = [];
  const config = loadConfigFile(configFile, { env: process.env, args, strict, onWarning: (m) => warnings.push(m) });
  const registry = config.registry === '' ? Registry.open() : await Registry.fromFile(config.registry);
  const packages = config.packages === '' ? undefined : await readPackageTable(config.packages);
  await readWorkerCa(config.workerCaFile);
  if (packages !== undefined && !registry.isOpen) {
    const missing = missingPackages(registry, packages);
    if (missing.length > 0) {
      warnings.push(`package table ${config.packages} lacks ${missing.length} package(s) the registry names (e.g. "${missing[0]}"); they count as costing nothing`);
    }
  }
  if (config.workers.length === 0 && config.dnsName === '') {
    warnings.push('no workers and no dnsName: every invocation gets 503 until workers are added');
  }
  for (const w of warnings) process.stderr.write(`warmroute: warning: ${w}\n`);
  const functions = registry.isOpen ? 'any function (no registry)' : `${registry.size} functions`;
  const table = packages === undefined ? 'no package table' : `${packages.size} packages`;
  const sources = `${config.workers.length} workers${config.dnsName === '' ? '' : ` + DNS ${config.dnsName}`}`;
  process.stdout.write(`${configFile}: valid: balancer ${config.balancer}, ${sources}, ${functions}, ${table}\n`);
  return 0;
}

function missingPackages(registry: Registry, packages: PackageTable): string[] {
  const missing = new Set<string>();
  for (const name of registry.names()) {
    for (const p of registry.lookup(name)?.packages ?? []) if (!packages.has(p)) missing.add(p);
  }
  return [...missing];
}

/** The version in package.json, found from the built (dist/src) or the source (src) location. */
function version(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'warmroute' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level; try the next
    }
  }
  throw new Error('package.json of warmroute not found');
}

interface ClientTarget {
  base: string;
  token: string;
}

function clientTarget(values: { config?: string; proxy?: string; token?: string }): ClientTarget {
  let conf: ProxyConfig | undefined;
  // Only host, port and token matter here: the config's warnings are for start and check.
  const quiet = (): void => {};
  if (values.config !== undefined) conf = loadConfigFile(values.config, { env: process.env, onWarning: quiet });
  else if (values.proxy === undefined) conf = loadConfig({ env: process.env, source: 'environment', onWarning: quiet });
  const host = conf ? (conf.host === '0.0.0.0' || conf.host === '::' ? '127.0.0.1' : conf.host) : '';
  const base = values.proxy ?? `http://${host.includes(':') ? `[${host}]` : host}:${conf!.port}`;
  return { base: base.replace(/\/+$/, ''), token: values.token ?? conf?.adminToken ?? process.env.WARMROUTE_ADMIN_TOKEN ?? '' };
}

async function call(target: ClientTarget, method: string, path: string, body?: unknown): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.token !== '') headers.authorization = `Bearer ${target.token}`;
  let response: Response;
  try {
    response = await fetch(`${target.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return fail(`cannot reach the proxy at ${target.base} (${cause})`, 1);
  }
  const text = await response.text();
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return response.ok ? 0 : 1;
}

const clientOptions = {
  config: { type: 'string', short: 'c' },
  proxy: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function workers(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: clientOptions, allowPositionals: true });
  const [action, ...addresses] = positionals;
  if (values.help) {
    process.stdout.write(usage.workers);
    return 0;
  }
  if (action !== 'add' && action !== 'remove' && action !== 'drain') throw new UsageError(`workers needs "add", "remove" or "drain", got ${action === undefined ? 'nothing' : `"${action}"`}\n${usage.workers}`);
  if (addresses.length === 0) throw new UsageError(`workers ${action} needs at least one worker URL`);
  const list = addresses.map((a) => {
    const eq = a.lastIndexOf('=');
    return eq === -1 ? a : { url: a.slice(0, eq), weight: Number(a.slice(eq + 1)) };
  });
  return call(clientTarget(values), 'POST', `/admin/workers/${action}`, { workers: list });
}

async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: clientOptions, allowPositionals: true });
  if (values.help) {
    process.stdout.write(usage.status);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`status takes no arguments, got "${positionals[0]}"`);
  return call(clientTarget(values), 'GET', '/status');
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start': return await start(rest);
      case 'check': return await check(rest);
      case '-V': case '--version': process.stdout.write(`${version()}\n`); return 0;
      case 'workers': return await workers(rest);
      case 'status': return await status(rest);
      case undefined: process.stderr.write(usage.main); return 2;
      case '-h': case '--help': case 'help': process.stdout.write(usage.main); return 0;
      default: throw new UsageError(`unknown command "${command}"\n${usage.main}`);
    }
  } catch (err) {
    // Each line of a config error stands alone (one problem a line), so each gets the prefix.
    if (err instanceof ConfigError) return fail(err.message.split('\n').join('\nwarmroute: '));
    if (err instanceof UsageError) return fail(err.message, err.exitCode);
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return fail((err as Error).message);
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`warmroute: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
