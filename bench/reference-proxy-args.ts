// The flags the reference proxies of bench:overhead take (bare-proxy, raw-proxy, http-proxy-proxy,
// reply-from-proxy): one reader, one wording of errors; and how a script of one runs.
import { parseArgs } from 'node:util';

export interface ReferenceProxyArgs {
  readonly port: number;
  /** http://host:port URLs, each with an explicit port. */
  readonly upstreams: readonly URL[];
  readonly connections: number;
}

/**
 * Reads `--port N --upstreams URL[,URL...] [--connections N]`. Returns the
 * arguments, or the exit status after writing the help (0) or the error with
 * the usage (2), prefixed by `name`.
 */
export function readReferenceProxyArgs(argv: string[], name: string, usage: string): ReferenceProxyArgs | number {
  try {
    const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, upstreams: { type: 'string' }, connections: { type: 'string', default: '32' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const port = Number(values.port);
    if (values.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got "${values.port ?? ''}"`);
    const upstreams = (values.upstreams ?? '').split(',').filter((u) => u !== '').map((u) => new URL(u));
    if (upstreams.length === 0) throw new Error('--upstreams needs at least one URL');
    const notHttp = upstreams.find((u) => u.protocol !== 'http:' || u.port === '');
    if (notHttp !== undefined) throw new Error(`--upstreams takes http://host:port URLs, got "${notHttp.href}"`);
    const connections = Number(values.connections);
    if (!Number.isInteger(connections) || connections < 1) throw new Error(`--connections must be a whole number of at least 1, got "${values.connections}"`);
    return { port, upstreams, connections };
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n${usage}`);
    return 2;
  }
}

/**
 * Runs a reference proxy script: reads its flags from the command line, listens
 * on 127.0.0.1 with the server `serve` makes, and exits 0 on SIGTERM or SIGINT.
 * Bad flags set the exit status as readReferenceProxyArgs says.
 */
export function runReferenceProxy(name: string, usage: string, serve: (args: ReferenceProxyArgs) => { listen(port: number, host: string): unknown }): void {
  const args = readReferenceProxyArgs(process.argv.slice(2), name, usage);
  if (typeof args === 'number') {
    process.exitCode = args;
    return;
  }
  serve(args).listen(args.port, '127.0.0.1');
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}
