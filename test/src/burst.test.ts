// A burst of clients larger than Node's default listen backlog (511). The proxy
// once listened with that default: while its event loop was busy, the kernel
// dropped every connection past 511, and those clients waited 1 s, 3 s, 7 s...
// in TCP retransmission before the proxy even saw them (the overload benchmark's
// seconds-long "503 at once"). The kernel must queue them all instead.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startFaultWorker } from '../fixtures/fault-worker.js';
import { startCli, until } from '../fixtures/end-to-end.js';
import { tcpSockets } from '../fixtures/proc-net.js';
import { startTestProxy } from '../fixtures/servers.js';

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());

/** Connections the kernel has queued on the listening socket on `port`, not yet accepted. */
function queued(port: number): number | undefined {
  return tcpSockets().find((s) => s.listening && s.localPort === port)?.rxQueue;
}

/** The backlog of the listening socket on `port` as `ss` reports it (its Send-Q), or undefined without ss. */
function backlog(port: number): number | undefined {
  const run = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8', timeout: 5000 });
  if (run.status !== 0) return undefined;
  const f = run.stdout.trim().split(/\s+/);
  return f.length >= 3 ? Number(f[2]) : undefined;
}
const hasSs = spawnSync('ss', ['-V'], { timeout: 5000 }).status === 0;

t.test('the proxy listens with the configured backlog, by default the kernel\'s maximum, not Node\'s 511', { skip: hasSs ? false : 'no ss(8) to read a backlog with' }, async (t) => {
  const w = await startFaultWorker();
  const wanted = Math.min(700, somaxconn);
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url], listenBacklog: wanted });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  t.equal(backlog(proxy.port), wanted, `backlog ${wanted}`);
  const byDefault = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(() => byDefault.close());
  t.equal(backlog(byDefault.port), somaxconn, `by default the kernel's maximum (net.core.somaxconn ${somaxconn})`);
});

const clients = 1000;
t.test(`${clients} clients connecting while the proxy cannot accept are all queued by the kernel, then all answered`, {
  skip: somaxconn < clients + 1 ? `net.core.somaxconn is ${somaxconn}: the kernel cannot queue ${clients} connections on this machine` : false,
}, async (t) => {
  const w = await startFaultWorker();
  const dir = await mkdtemp(join(tmpdir(), 'warmroute-burst-'));
  t.teardown(async () => {
    await w.close();
    await rm(dir, { recursive: true, force: true });
  });
  const file = join(dir, 'warmroute.json');
  writeFileSync(file, JSON.stringify({
    host: '127.0.0.1', port: 0, balancer: 'least-loaded', workers: [w.url], connectionsPerWorker: 4,
    queueLimit: 200, healthIntervalMs: 0, accessLog: false, logLevel: 'info',
  }));
  const cli = await startCli(t, file);
  const port = Number(new URL(cli.url).port);
  // Stopped, the proxy accepts nothing: only the kernel's queue holds the clients.
  cli.child.kill('SIGSTOP');
  t.teardown(() => { cli.child.kill('SIGCONT'); });
  const sockets: Socket[] = [];
  let connected = 0;
  const answers = Array.from({ length: clients }, () => new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let text = '';
    socket.once('connect', () => {
      connected++;
      socket.write('POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
    });
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
    socket.once('error', () => undefined);
    socket.once('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 'none'));
  }));
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  await until(() => connected === clients && queued(port) === clients, `${clients} connections queued by the kernel`, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${connected} connected, ${queued(port) ?? '?'} queued`);
  });
  t.pass(`all ${clients} connections were queued while the proxy was stopped`);
  cli.child.kill('SIGCONT');
  const statuses = await Promise.all(answers);
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  t.equal(counts.get('none') ?? 0, 0, 'every client got an answer');
  t.equal((counts.get('200') ?? 0) + (counts.get('503') ?? 0), clients, `served or 503 queue_full: ${JSON.stringify(Object.fromEntries(counts))}`);
  t.ok((counts.get('200') ?? 0) >= 200, 'at least the queue\'s worth served');
  cli.child.kill('SIGTERM');
  await cli.exited;
});
