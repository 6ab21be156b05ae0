// Bodies stream through the proxy: a 100 MB upload and its echo pass without the proxy holding them.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import t from 'tap';
import { startTestWorker } from '../fixtures/servers.js';

const MB = 1024 * 1024;

/** Peak and current resident memory of a process, from /proc (kB -> bytes). */
function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { peak: field('VmHWM'), now: field('VmRSS') };
}

/** Starts the built proxy as its own process, so its memory can be measured alone. */
async function spawnProxy(configPath: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [resolve('dist/src/cli.js'), 'start', '-c', configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('warmroute listening'));
      if (line) resolveUrl((JSON.parse(line) as { url: string }).url);
    });
    child.on('exit', (code) => reject(new Error(`proxy exited with ${code}`)));
  });
  return { child, url };
}

t.test('a 100 MB request body goes to the worker and back without the proxy growing by its size', async (t) => {
  const worker = await startTestWorker({ echo: true });
  const dir = t.testdir({ 'c.json': JSON.stringify({ port: 0, workers: [worker.url], maxBodyBytes: 400 * MB, logLevel: 'info' }) });
  const { child, url } = await spawnProxy(join(dir, 'c.json'));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await worker.close();
  });
  // Warm the proxy up so that start-up allocations are not counted against the transfer.
  for (let i = 0; i < 3; i++) await fetch(`${url}/runLambda/echo`, { method: 'POST', body: 'x'.repeat(MB) }).then((r) => r.arrayBuffer());
  // Garbage chunks wait for the next GC, so some growth is normal; a buffering proxy would grow by
  // twice the body (request and response), and growth would follow the body's size.
  for (const mb of [100, 300]) {
    const before = memoryOf(child.pid!);
    const received = await echo(url, mb * MB);
    const growth = memoryOf(child.pid!).peak - before.peak;
    t.equal(received, mb * MB, `every byte of ${mb} MB came back`);
    t.ok(growth < 100 * MB, `proxy peak RSS grew by ${(growth / MB).toFixed(1)} MB for a ${mb} MB body`);
  }
});

/** Streams `size` bytes to the echo function and counts the bytes of the answer. */
function echo(url: string, size: number): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 7);
  return new Promise<number>((resolveCount, reject) => {
    const req = request(`${url}/runLambda/echo`, { method: 'POST', headers: { 'content-length': size } }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolveCount(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}
