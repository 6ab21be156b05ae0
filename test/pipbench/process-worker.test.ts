// The process engine over real HTTP with real pip and real Python: installs
// land on disk, interpreters are reused, failures stay with their request,
// and no child process outlives the worker.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import { main as workerMain } from '../../pipbench/commands/worker.js';
import { cpuHierarchy } from '../../pipbench/process-engine/cgroup.js';
import { startProcessWorker, type ProcessInvocationResult, type ProcessWorker, type ProcessWorkerOptions } from '../../pipbench/process-engine/index.js';
import { captureIO } from '../fixtures/capture-io.js';
import { pythonAbsence, writeTinyRepo, type TinyRepo } from '../fixtures/python-repo.js';
import { alive } from '../fixtures/alive.js';
import { until } from '../fixtures/end-to-end.js';

const absent = pythonAbsence();
if (absent) {
  t.plan(0, absent);
} else {
  // pip and Python start-ups on a shared 2-core machine: seconds each.
  t.setTimeout(600_000);
  // Each subtest has its own worker, cache folder, port and children: side by side, the waits overlap.
  t.jobs = 3;
  await tests();
}


interface Answer {
  status: number;
  json: unknown;
}

async function post(worker: ProcessWorker, handler: string, event: unknown = {}): Promise<Answer> {
  const res = await fetch(`${worker.url}/runLambda/${handler}`, { method: 'POST', body: JSON.stringify(event), headers: { 'content-type': 'application/json' } });
  return { status: res.status, json: (await res.json()) as unknown };
}

async function ok(worker: ProcessWorker, handler: string, event: unknown = {}): Promise<ProcessInvocationResult> {
  const answer = await post(worker, handler, event);
  if (answer.status !== 200) throw new Error(`${handler}: ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer.json as ProcessInvocationResult;
}

function errorOf(answer: Answer): { code: string; message: string } {
  return (answer.json as { error: { code: string; message: string } }).error;
}

/** Leftovers of installs: temporary or deleted folders (their names start with a dot). */
function leftovers(cache: string): string[] {
  return readdirSync(cache).filter((n) => n.startsWith('.'));
}

async function tests(): Promise<void> {
  const fixture: TinyRepo = await writeTinyRepo();
  t.teardown(() => fixture.remove());
  let caches = 0;

  const start = async (t: Test, extra: Partial<ProcessWorkerOptions> = {}): Promise<{ worker: ProcessWorker; cache: string }> => {
    const cache = extra.cache ?? join(fixture.dir, `cache${++caches}`);
    const worker = await startProcessWorker({ workload: fixture.workload, repo: fixture.repo, handlers: fixture.handlers, cache, ...extra });
    t.teardown(() => worker.close());
    return { worker, cache };
  };

  t.test('a cold call installs to disk and imports; a repeat reuses the interpreter; status lists what is on disk', async (t) => {
    const { worker, cache } = await start(t, { importCacheBytes: 512 * 2 ** 20, name: 'pw1' });
    const cold = await ok(worker, 'probe', { name: 'Alice' });
    t.same(cold.coldPackages, ['beta', 'alpha'], 'both packages installed by this call');
    t.equal(cold.interpreter, 'started');
    t.same(cold.importedPackages, ['beta', 'alpha']);
    t.equal(cold.worker, 'pw1');
    for (const p of ['alpha', 'beta']) {
      t.same(readdirSync(join(cache, p)).sort(), [p, `${p}-1.0.0.dist-info`], `${p} is installed in its own folder, and only ${p}`);
      t.ok(existsSync(join(cache, p, p, '__init__.py')));
      t.ok(readdirSync(join(cache, p, p, '__pycache__')).length > 0, `${p} was byte-compiled at install`);
    }
    t.equal(worker.status().pipCalls, 1, 'one pip call installed both packages');
    const result = cold.result as { path: string[]; event: unknown; alpha: number };
    t.same(result.event, { name: 'Alice' }, 'the request body is the event');
    t.equal(result.alpha, 5, 'the real package was imported');
    t.same(result.path.slice(0, 3), [join(fixture.handlers, 'probe'), join(cache, 'beta'), join(cache, 'alpha')], 'handler folder, then its packages');
    t.notOk(result.path.some((p) => p === '' || p.includes('site-packages')), `nothing else but the standard library: ${result.path.slice(3).join(' ')}`);

    const warm = await ok(worker, 'probe');
    t.equal(warm.interpreter, 'warm');
    t.equal(warm.pid, cold.pid, 'the same interpreter answered');
    t.same(warm.coldPackages, []);
    t.equal(warm.warmPackages, 2);
    t.equal(warm.importMs, 0);

    const s = worker.status();
    t.same([...s.packages].sort(), ['alpha', 'beta']);
    t.equal(s.installs, 2);
    t.equal(s.invocations, 2);
    t.equal(s.coldInvocations, 1);
    t.equal(s.warmInvocations, 1);
    t.equal(s.interpreters, 1);
    t.ok(s.usedImportBytes > 1e6, `the interpreter's resident memory is measured (${s.usedImportBytes})`);
    t.ok(s.usedBytes > 0);
    // The status reads the disk: a folder removed behind the worker's back is no longer listed.
    await rm(join(cache, 'alpha'), { recursive: true });
    const status = (await (await fetch(`${worker.url}/status`)).json()) as { packages: string[]; inFlight: number; cores: number; name: string };
    t.same(status.packages, ['beta'], 'the status lists the folders on disk');
    t.equal(status.inFlight, 0);
    t.ok(status.cores > 0);
    t.equal(status.name, 'pw1');
  });

  t.test('two concurrent requests needing one package share its install', async (t) => {
    const { worker } = await start(t, { importCacheBytes: 512 * 2 ** 20 });
    const [a, b] = await Promise.all([ok(worker, 'g1'), ok(worker, 'g2')]);
    t.same(a.coldPackages, ['gamma']);
    t.same(b.coldPackages, ['gamma'], 'the other call waited for the same install');
    t.equal(worker.status().installs, 1, 'pip ran once');
    t.not(a.pid, b.pid, 'each handler has its own interpreter');
  });

  t.test('over --cache-mb the least recently used package is deleted from disk', async (t) => {
    const { worker, cache } = await start(t, { cacheBytes: 300_000 });
    await ok(worker, 'big1');
    t.ok(existsSync(join(cache, 'big1')));
    const second = await ok(worker, 'big2');
    t.same(second.coldPackages, ['big2']);
    t.notOk(existsSync(join(cache, 'big1')), 'big1 folder deleted');
    t.same(worker.status().packages, ['big2']);
    t.equal(worker.status().evictions, 1);
    t.ok(worker.status().usedBytes <= 300_000, `within the bound (${worker.status().usedBytes})`);
    const again = await ok(worker, 'big1');
    t.same(again.coldPackages, ['big1'], 'an evicted package is installed again');
    t.notOk(existsSync(join(cache, 'big2')));
    await worker.close();
    t.same(leftovers(cache), [], 'no deleted folder left behind');
  });

  t.test('a package in use is not deleted, though the cache is over its bound', async (t) => {
    const { worker, cache } = await start(t, { cacheBytes: 300_000 });
    const release = join(fixture.dir, 'release-holder');
    const held = ok(worker, 'holder', { until: release });
    await until(() => worker.status().interpreters === 1 && worker.status().installing === 0, 'the holder to run', 60_000);
    const other = await ok(worker, 'big2');
    t.same(other.coldPackages, ['big2']);
    t.ok(existsSync(join(cache, 'big1')), 'big1 stays while the holder uses it');
    t.notOk(existsSync(join(cache, 'big2')), 'the unused newcomer went instead');
    await writeFile(release, '');
    t.same((await held).result, { held: true }, 'the holder ran to its end on its packages');
    t.same(worker.status().packages, ['big1']);
  });

  t.test('--import-cache-mb 0 keeps no interpreter: each call starts one, the last is gone', async (t) => {
    const { worker } = await start(t);
    const first = await ok(worker, 'plain', { n: 1 });
    const second = await ok(worker, 'plain', { n: 2 });
    t.same(second.result, { n: 2 });
    t.equal(first.interpreter, 'started');
    t.equal(second.interpreter, 'started');
    t.not(first.pid, second.pid);
    await until(() => !alive(first.pid), 'the first interpreter to exit', 60_000);
    t.equal(worker.status().interpreters, 0);
    t.equal(worker.status().interpreterEvictions, 2);
  });

  t.test('a handler that raises is a 500 for that request only; the interpreter stays', async (t) => {
    const { worker } = await start(t, { importCacheBytes: 512 * 2 ** 20 });
    const first = await ok(worker, 'raiser');
    const failed = await post(worker, 'raiser', { fail: true });
    t.equal(failed.status, 500);
    t.equal(errorOf(failed).code, 'handler_error');
    t.match(errorOf(failed).message, /raiser.*ValueError: boom second line/);
    t.notMatch(errorOf(failed).message, /\n/, 'one line');
    const next = await ok(worker, 'raiser');
    t.equal(next.pid, first.pid, 'the same interpreter answers the next call');
    t.equal(worker.status().failures, 1);
  });

  t.test('a crashed interpreter is a 500 for that request only; the next call starts another', async (t) => {
    const { worker } = await start(t, { importCacheBytes: 512 * 2 ** 20 });
    const first = await ok(worker, 'crasher');
    const crashed = await post(worker, 'crasher', { crash: true });
    t.equal(crashed.status, 500);
    t.equal(errorOf(crashed).code, 'interpreter_crashed');
    t.match(errorOf(crashed).message, new RegExp(`crasher.*pid ${first.pid}.*code 7`));
    const next = await ok(worker, 'crasher');
    t.not(next.pid, first.pid);
    t.equal(next.interpreter, 'started');
    const broken = await post(worker, 'broken');
    t.equal(broken.status, 500);
    t.equal(errorOf(broken).code, 'import_failed');
    t.match(errorOf(broken).message, /broken.*ModuleNotFoundError.*no_such_module_anywhere/);
    t.same(worker.status().childPids, [next.pid], 'the failed import left no process');
  });

  t.test('close() kills every child, busy or idle; none outlives the worker', async (t) => {
    const { worker } = await start(t, { importCacheBytes: 512 * 2 ** 20 });
    const idle = await ok(worker, 'plain');
    const pending = post(worker, 'sleeper').then((a) => a.status, () => 'connection closed');
    await until(() => worker.status().childPids.length === 2 && worker.status().interpreters === 2, 'the sleeper to run', 60_000);
    const pids = worker.status().childPids;
    t.ok(pids.includes(idle.pid));
    t.ok(pids.every(alive));
    await worker.close();
    t.same(pids.filter(alive), [], 'every child pid is gone');
    const outcome = await pending;
    t.ok(outcome === 503 || outcome === 'connection closed', `the in-flight call ended (${outcome})`);
  });

  t.test('bad packages: missing from the repository, a corrupt wheel; nothing half-written, no child left', async (t) => {
    const { worker, cache } = await start(t);
    const missing = await post(worker, 'needsmissing');
    t.equal(missing.status, 500);
    t.equal(errorOf(missing).code, 'package_missing');
    t.match(errorOf(missing).message, /"missingpkg" is not in the repository/);
    const corrupt = await post(worker, 'needscorrupt');
    t.equal(corrupt.status, 500);
    t.equal(errorOf(corrupt).code, 'corrupt_wheel');
    t.match(errorOf(corrupt).message, /corruptpkg/);
    t.notMatch(errorOf(corrupt).message, /\n/, 'one line');
    t.same(readdirSync(cache), [], 'no package folder and no temporary folder');
    t.same(worker.status().childPids, []);
    const mixed = await post(worker, 'needsmixed');
    t.equal(errorOf(mixed).code, 'package_missing', 'one missing package fails the whole batch install');
    t.match(errorOf(mixed).message, /"missingpkg" is not in the repository/);
    t.same(readdirSync(cache), [], 'the present package of that batch left no folder either');
    t.same(worker.status().packages, []);
    t.equal((await ok(worker, 'plain')).interpreter, 'started', 'the worker goes on');
  });

  const mountPoint = await mkdtemp(join(tmpdir(), 'warmroute-small-disk-'));
  t.teardown(() => rm(mountPoint, { recursive: true, force: true }));
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mountPoint], { stdio: 'ignore' });
    mounted = true;
  } catch {
    // not root: the test below is skipped
  }
  const mountSkip = mounted ? false : 'cannot mount a small tmpfs here (needs root)';
  t.test('a full disk and a cache turned read-only: a 500 naming it, nothing half-written', { skip: mountSkip }, async (t) => {
    t.teardown(() => execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' }));
    const { worker } = await start(t, { cache: mountPoint });
    const full = await post(worker, 'needshuge');
    t.equal(full.status, 500);
    t.equal(errorOf(full).code, 'disk_full');
    t.match(errorOf(full).message, /no space left.*"huge"/);
    t.same(readdirSync(mountPoint), [], 'the failed install left nothing');
    t.same(worker.status().childPids, []);
    execFileSync('mount', ['-o', 'remount,ro', mountPoint], { stdio: 'ignore' });
    const readOnly = await post(worker, 'g1');
    t.equal(readOnly.status, 500);
    t.equal(errorOf(readOnly).code, 'cache_unwritable');
    t.match(errorOf(readOnly).message, /"gamma".*EROFS/);
  });

  const hierarchy = cpuHierarchy();
  const cgroupSkip = typeof hierarchy === 'string' ? `no cgroup cpu controller: ${hierarchy}` : process.getuid?.() !== 0 ? 'cgroups are writable by root only' : false;
  t.test('--cpus: children run in the worker\'s own cgroup, removed at shutdown', { skip: cgroupSkip }, async (t) => {
    if (typeof hierarchy === 'string') return;
    const { worker } = await start(t, { cpus: 0.5, importCacheBytes: 512 * 2 ** 20, name: 'quota' });
    const s = worker.status();
    t.equal(s.cores, 0.5, 'the quota is the cores the worker reports');
    const cgroup = s.cgroup as string;
    t.match(cgroup, new RegExp(`warmroute-quota-${process.pid}$`));
    const quotaFile = hierarchy.version === 2 ? 'cpu.max' : 'cpu.cfs_quota_us';
    t.match(readFileSync(join(cgroup, quotaFile), 'utf8'), /^50000\b/);
    const call = await ok(worker, 'plain');
    t.ok(readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').includes(String(call.pid)), 'the interpreter is in the cgroup');
    await worker.close();
    t.notOk(existsSync(cgroup), 'the cgroup is removed');
    t.notOk(alive(call.pid));
  });

  t.test('start-up problems are one-line usage errors (exit 2) and leave nothing running', async (t) => {
    const regular = join(fixture.dir, 'a-file');
    await writeFile(regular, '');
    const noPip = join(fixture.dir, 'python-without-pip');
    const realPython = execFileSync('python3', ['-c', 'import sys; print(sys.executable)']).toString().trim();
    // -S: no site-packages, hence no pip.
    await writeFile(noPip, `#!/bin/sh\nexec ${realPython} -S "$@"\n`);
    await chmod(noPip, 0o755);
    const registry = join(fixture.dir, 'registry.json');
    await writeFile(registry, JSON.stringify([...fixture.workload.registry].map(([handle, pkgs]) => ({ handle, pkgs }))));
    const incomplete = join(fixture.dir, 'incomplete-handlers');
    await mkdir(incomplete, { recursive: true });
    const base = ['--engine', 'process', '--registry', registry, '--repo', fixture.repo, '--handlers', fixture.handlers];
    const cases: [string[], RegExp][] = [
      [[...base, '--cache', join(fixture.dir, 'c'), '--python', '/nonexistent/python3'], /python "\/nonexistent\/python3" not found.*--python/],
      [[...base, '--cache', join(fixture.dir, 'c'), '--python', noPip], /pip is missing/],
      [[...base, '--cache', join(regular, 'cache')], /cache folder .*a-file\/cache is not writable/],
      [[...base], /--engine process needs --cache DIR/],
      [['--engine', 'process', '--registry', registry, '--repo', regular, '--handlers', fixture.handlers, '--cache', join(fixture.dir, 'c')], /repository .*a-file is not a folder/],
      [['--engine', 'process', '--registry', registry, '--repo', fixture.repo, '--handlers', incomplete, '--cache', join(fixture.dir, 'c')], /has no .*lambda_func\.py/],
      [[...base, '--cache', join(fixture.dir, 'c'), '--time-scale', '0.1'], /--time-scale is a flag of the model engine/],
      [['--registry', registry, '--repo', fixture.repo], /--repo is a flag of the process engine/],
      [['--registry', registry, '--engine', 'docker'], /--engine must be one of model, process/],
      [[...base, '--cache', join(fixture.dir, 'c'), '--cpus', '0'], /--cpus must be greater than 0/],
    ];
    for (const [argv, message] of cases) {
      const io = captureIO();
      t.equal(await workerMain(argv, io), 2, `exit 2: ${argv.slice(-2).join(' ')}`);
      t.match(io.err(), message);
      t.equal(io.err().trim().split('\n').length, 1, 'one line');
    }
  });

  t.test('CLI: --engine process starts, serves, and stops with no child left', async (t) => {
    const registry = join(fixture.dir, 'registry-cli.json');
    await writeFile(registry, JSON.stringify([{ handle: 'plain', pkgs: [] }]));
    const stop = new AbortController();
    const io = { ...captureIO(), stop: stop.signal };
    const argv = ['--engine', 'process', '--registry', registry, '--repo', fixture.repo, '--handlers', fixture.handlers, '--cache', join(fixture.dir, 'cli-cache'), '--import-cache-mb', '100', '--name', 'cli-p'];
    let exited = false;
    const exit = workerMain(argv, io).finally(() => { exited = true; });
    await until(() => io.out().includes('listening') || exited, 'the worker to listen', 60_000);
    t.notOk(exited, `still running after start (${io.err()})`);
    t.match(io.out(), /cli-p listening on http:\/\/\S+ \(process engine/);
    const url = /listening on (http:\/\/\S+)/.exec(io.out())?.[1] as string;
    const res = await fetch(`${url}/run/plain`, { method: 'POST', body: '{"x":1}' });
    const answer = (await res.json()) as ProcessInvocationResult;
    t.same(answer.result, { x: 1 });
    t.ok(alive(answer.pid), 'a warm interpreter is kept');
    const notJson = await fetch(`${url}/run/plain`, { method: 'POST', body: 'not json' });
    t.equal(notJson.status, 400);
    await notJson.body?.cancel();
    stop.abort();
    t.equal(await exit, 0);
    t.notOk(alive(answer.pid), 'the interpreter did not outlive the worker');
    t.match(io.out(), /stopped after 1 invocations \(1 cold\)/);
  });

  t.test('the built CLI: SIGTERM stops it with no child left; a SIGKILLed worker takes its interpreters with it', async (t) => {
    const cli = resolve('dist/pipbench/cli.js');
    const registry = join(fixture.dir, 'registry-signals.json');
    await writeFile(registry, JSON.stringify([{ handle: 'plain', pkgs: [] }]));
    const startCli = async (cache: string): Promise<{ child: ReturnType<typeof spawn>; url: string; exited: Promise<number | string> }> => {
      const argv = [cli, 'worker', '--engine', 'process', '--registry', registry, '--repo', fixture.repo, '--handlers', fixture.handlers, '--cache', join(fixture.dir, cache), '--import-cache-mb', '100'];
      const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown')));
      t.teardown(() => { child.kill('SIGKILL'); });
      let out = '';
      child.stdout?.on('data', (c: Buffer) => { out += c.toString(); });
      child.stderr?.on('data', (c: Buffer) => { out += c.toString(); });
      let ended = false;
      void exited.then(() => { ended = true; });
      await until(() => out.includes('listening') || ended, 'the CLI worker to listen', 60_000);
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url === undefined) throw new Error(`the CLI worker did not start: ${out}`);
      return { child, url, exited };
    };
    const interpreterOf = async (url: string): Promise<number> => {
      const answer = (await (await fetch(`${url}/runLambda/plain`, { method: 'POST', body: '{}' })).json()) as ProcessInvocationResult;
      return answer.pid;
    };

    const termed = await startCli('signal-cache-1');
    const pid = await interpreterOf(termed.url);
    t.ok(alive(pid), 'a warm interpreter runs');
    termed.child.kill('SIGTERM');
    t.equal(await termed.exited, 0, 'SIGTERM: exit 0');
    t.notOk(alive(pid), 'the interpreter is gone');

    const killed = await startCli('signal-cache-2');
    const orphan = await interpreterOf(killed.url);
    killed.child.kill('SIGKILL');
    t.equal(await killed.exited, 'SIGKILL');
    await until(() => !alive(orphan), 'the interpreter of the killed worker to die', 10_000);
    t.notOk(alive(orphan), 'the kernel killed it with its parent');
  });
}
