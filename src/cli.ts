#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, configFlags, describeConfig, loadConfig, loadConfigFile, type ProxyConfig } from './config.js';

const usage = {
  main: `usage: warmroute <command> [flags]

commands:
  start                    run the proxy
  workers add URL...       add workers to a running proxy
  workers remove URL...    remove workers from a running proxy
  status                   print a running proxy's status (JSON)

Run "warmroute <command> --help" for its flags.
`,
  start: () => `usage: warmroute start [-c FILE] [--KEY VALUE ...]

Runs the proxy. Settings come from defaults < the JSON file < WARMROUTE_* environment variables < flags.

  -c, --config FILE   JSON config (warmroute or olscheduler format)
${describeConfig().map((d) => `  ${`${d.flag} VALUE`.padEnd(32)} ${d.doc} [${d.env}; default ${JSON.stringify(d.default)}]`).join('\n')}
`,
  workers: `usage: warmroute workers add|remove URL... [-c FILE] [--proxy URL] [--token TOKEN]

Adds or removes workers on the running proxy that FILE configures (host, port, adminToken),
or on --proxy. A URL is host:port or http://host:port; "host:port=2" gives a weight of 2.
`,
  status: `usage: warmroute status [-c FILE] [--proxy URL] [--token TOKEN]

Prints the running proxy's /status: balancer, queue, and every worker's load and health.
`,
};

class UsageError extends Error {}

function fail(message: string, code = 2): number {
  process.stderr.write(`warmroute: ${message}\n`);
  return code;
}

/** Splits `start` arguments into -c and the config flags convict understands; rejects unknown flags. */
function startArgs(argv: string[]): { configFile?: string; args: string[]; help: boolean } {
  let configFile: string | undefined;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { args, help: true };
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    if (flag === '-c' || flag === '--config') {
      configFile = value();
    } else if (flag.startsWith('--') && configFlags.has(flag.slice(2))) {
      args.push(flag, value());
    } else {
      throw new UsageError(`unknown flag "${arg}" for start (see warmroute start --help)`);
    }
  }
  return { configFile, args, help: false };
}

async function start(argv: string[]): Promise<number> {
  const { configFile, args, help } = startArgs(argv);
  if (help) {
    process.stdout.write(usage.start());
    return 0;
  }
  const config = configFile === undefined
    ? loadConfig({ env: process.env, args, source: 'flags' })
    : loadConfigFile(configFile, { env: process.env, args });
  const { startProxyWith } = await import('./app.js');
  const proxy = await startProxyWith(config, { configPath: configFile, env: process.env, args });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    proxy.log.info({ signal, timeoutMs: proxy.config().shutdownTimeoutMs }, 'shutting down: waiting for running and queued requests');
    void proxy.close().then(({ cut }) => {
      if (cut > 0) proxy.log.error({ cut }, 'forced shutdown: requests were cut');
      proxy.log.flush?.();
      process.exit(cut > 0 ? 1 : 0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.on('SIGHUP', () => {
    proxy.reload().catch((err: unknown) => proxy.log.error({ err: (err as Error).message }, 'reload failed; the running configuration stays'));
  });
  return -1; // keep running
}

interface ClientTarget {
  base: string;
  token: string;
}

function clientTarget(values: { config?: string; proxy?: string; token?: string }): ClientTarget {
  let conf: ProxyConfig | undefined;
  if (values.config !== undefined) conf = loadConfigFile(values.config, { env: process.env });
  else if (values.proxy === undefined) conf = loadConfig({ env: process.env, source: 'environment' });
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
  if (action !== 'add' && action !== 'remove') throw new UsageError(`workers needs "add" or "remove", got ${action === undefined ? 'nothing' : `"${action}"`}\n${usage.workers}`);
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
      case 'workers': return await workers(rest);
      case 'status': return await status(rest);
      case undefined: process.stderr.write(usage.main); return 2;
      case '-h': case '--help': case 'help': process.stdout.write(usage.main); return 0;
      default: throw new UsageError(`unknown command "${command}"\n${usage.main}`);
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) return fail(err.message);
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
