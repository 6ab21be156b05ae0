// A reference point for the overhead benchmark, not a contender: fastify with
// @fastify/reply-from, configured as its README gives for speed: the undici
// client (its default), `base` as a list of the workers so that the plugin
// balances them round-robin with an undici BalancedPool of keep-alive
// connections, request logging off, and request bodies passed through as
// streams rather than parsed (the README's "proxying without parsing").
// Hop-by-hop headers are the plugin's business. The target for
// warmroute is 1.5x the best of this row and node-http-proxy's.
// `node dist/bench/reply-from-proxy.js --port N --upstreams URL,URL [--connections N]`

import fastifyReplyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { readReferenceProxyArgs } from './reference-proxy-args.js';

const usage = 'usage: node dist/bench/reply-from-proxy.js --port N --upstreams URL[,URL...] [--connections N]\n';

async function main(argv: string[]): Promise<number> {
  const args = readReferenceProxyArgs(argv, 'reply-from-proxy', usage);
  if (typeof args === 'number') return args;
  const { port, upstreams, connections } = args;
  const app = Fastify({ logger: false });
  // The body goes upstream as the client sends it, never parsed and re-encoded.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload); });
  await app.register(fastifyReplyFrom, {
    // One origin gives a Pool, two or more a BalancedPool: round-robin over them.
    base: upstreams.length === 1 ? upstreams[0]!.origin : upstreams.map((u) => u.origin),
    undici: { connections, pipelining: 1, keepAliveTimeout: 60_000 },
    disableRequestLogging: true,
  });
  app.post('/runLambda/:name', (_request, reply) => { reply.from(); });
  await app.listen({ port, host: '127.0.0.1' });
  const stop = (): void => { void app.close().finally(() => process.exit(0)); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`reply-from-proxy: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
