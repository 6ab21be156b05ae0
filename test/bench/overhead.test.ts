// The proxy-overhead benchmark, run for real but briefly: rows measured through
// real proxies, nginx skipped (not failed) when absent, bad flags rejected, and
// no child process left behind, even when the run is interrupted.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { findNginx, nginxConfig } from '../../bench/nginx.js';
import { processLines } from '../../bench/overhead.js';
import { medianRows, nodeProxyComparison, roundRatiosVsNginx, roundRatiosVsNodeProxy, withRatios, type NodeProxyComparison, type Row } from '../../bench/overhead-report.js';
import { percentile } from '../../pipbench/stats.js';
import { noneAlive, runBenchScript, type BenchRun } from '../fixtures/bench-run.js';

const runBench = (args: string[], options: { interruptAt?: number; env?: NodeJS.ProcessEnv } = {}): Promise<BenchRun> => runBenchScript(resolve('dist/bench/overhead.js'), args, options);

// Each subtest runs its own benchmark processes on their own ports and folders: side by side.
t.jobs = 3;

interface SummaryRow extends Row {
  vsNginx: { requestsPerSec: number | null; p99: number | null };
  vsDirect: { requestsPerSec: number | null; p99: number | null };
}

t.test('measures direct, warmroute and the Node proxies, skips nginx with a note when there is none, and cleans up', async (t) => {
  const out = t.testdir();
  const run = await runBench(['--duration', '0.5', '--warmup', '0', '--connections', '4', '--targets', 'direct,nginx-rr,warmroute-rr,node-reply-from,node-http-proxy', '--nginx', '/nonexistent/nginx', '--out', out]);
  t.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { rows: SummaryRow[]; command: string; machine: { cores: number; references: string }; vsBestNodeProxy: NodeProxyComparison | null };
  const byName = new Map(summary.rows.map((r) => [r.target, r]));
  t.same([...byName.keys()], ['direct', 'nginx-rr', 'warmroute-rr', 'node-reply-from', 'node-http-proxy'], 'one row per requested target, in order');

  const direct = byName.get('direct')!;
  t.equal(direct.status, 'measured');
  t.ok(direct.load!.responses > 0, `direct answered ${direct.load!.responses} requests`);
  t.equal(direct.load!.non2xx + direct.load!.errors, 0, 'direct: all 2xx');
  t.equal(direct.peakRssMiB, undefined, 'no proxy process, no proxy memory');

  const nginx = byName.get('nginx-rr')!;
  t.equal(nginx.status, 'skipped');
  t.match(nginx.note, /\/nonexistent\/nginx/, 'the note names the missing binary');

  const warmroute = byName.get('warmroute-rr')!;
  t.equal(warmroute.status, 'measured', warmroute.note ?? '');
  t.ok(warmroute.load!.responses > 0);
  t.equal(warmroute.load!.non2xx + warmroute.load!.errors, 0, 'warmroute: all 2xx');
  t.ok(warmroute.load!.latencyP50Ms <= warmroute.load!.latencyP99Ms, 'p50 <= p99');
  t.ok((warmroute.peakRssMiB ?? 0) > 10, `peak RSS of the proxy process read from /proc: ${warmroute.peakRssMiB} MiB`);
  t.equal(warmroute.vsNginx.requestsPerSec, null, 'no nginx baseline, no ratio');
  t.ok((warmroute.vsDirect.requestsPerSec ?? 0) > 0, 'ratio to direct from the same run');
  t.equal(direct.vsDirect.requestsPerSec, 1);

  for (const name of ['node-reply-from', 'node-http-proxy']) {
    const row = byName.get(name)!;
    t.equal(row.status, 'measured', `${name}: ${row.note ?? ''}`);
    t.ok(row.load!.responses > 0, `${name} answered ${row.load!.responses} requests`);
    t.equal(row.load!.non2xx + row.load!.errors, 0, `${name}: all 2xx`);
    t.ok((row.peakRssMiB ?? 0) > 10, `${name}: peak RSS of its process read from /proc`);
  }
  const comparison = summary.vsBestNodeProxy!;
  const faster = ['node-reply-from', 'node-http-proxy'].reduce((a, b) => (byName.get(b)!.load!.requestsPerSec > byName.get(a)!.load!.requestsPerSec ? b : a));
  t.equal(comparison.reference, faster, 'warmroute is compared with the faster Node proxy of the run');
  t.same(comparison.rows.map((r) => r.target), ['warmroute-rr']);
  t.equal(comparison.rows[0]!.ratio, Math.round((warmroute.load!.requestsPerSec / byName.get(faster)!.load!.requestsPerSec) * 1000) / 1000);
  t.match(summary.machine.references, /fastify 5\.12\.8, @fastify\/reply-from 12\.6\.5, http-proxy 1\.18\.1/, 'the versions measured are recorded');

  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  t.match(md, new RegExp(`Against the best Node proxy [^\\n]*was ${faster}[\\s\\S]*- warmroute-rr / ${faster}: \\d+\\.\\d\\dx`), 'the ratio to the best Node proxy is in the summary');
  t.match(run.stdout, new RegExp(`- warmroute-rr / ${faster}: \\d+\\.\\d\\dx`), 'and printed');
  t.match(md, /\| target \| req\/s \|/, 'markdown table');
  t.match(md, /node dist\/bench\/overhead\.js --duration 0\.5/, 'the exact command');
  t.match(md, /nginx-rr \(skipped\)/, 'the skipped row is explained');
  t.match(run.stdout, /warmroute-rr\s+\d+/, 'the table is printed');
  t.same(await noneAlive(run.descendants), [], 'upstream and proxy processes are gone');
});

const nginxInstall = findNginx('nginx');
t.test('nginx rows run when nginx is installed', { skip: 'missing' in nginxInstall ? `nginx not installed: ${nginxInstall.missing}` : false }, async (t) => {
  const install = nginxInstall;
  if ('missing' in install) return;
  const out = t.testdir();
  const run = await runBench(['--duration', '0.5', '--warmup', '0', '--connections', '4', '--targets', 'nginx-least-conn,nginx-rr', '--out', out]);
  t.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { rows: SummaryRow[]; machine: { nginx: string } };
  for (const row of summary.rows) {
    t.equal(row.status, 'measured', `${row.target}: ${row.note ?? ''}`);
    t.equal(row.load!.non2xx + row.load!.errors, 0, `${row.target}: all 2xx`);
    t.ok((row.peakRssMiB ?? 0) > 0, `${row.target}: peak RSS of master and worker`);
  }
  t.equal(summary.rows.find((r) => r.target === 'nginx-rr')!.vsNginx.requestsPerSec, 1, 'baseline ratio is 1');
  t.equal(summary.machine.nginx, install.version);
  t.same(await noneAlive(run.descendants), [], 'nginx master and worker are gone');
});

t.test('an interrupted run leaves no process and no temporary folder behind', async (t) => {
  const out = t.testdir();
  // A temporary directory of its own, so that the runs of the other subtests do not show in it.
  const temp = join(out, 'tmp');
  mkdirSync(temp);
  const benchFolders = (): string[] => readdirSync(temp).filter((f) => f.startsWith('warmroute-bench-overhead-'));
  // Interrupted while the upstream process and the proxy both run.
  const run = await runBench(['--duration', '20', '--warmup', '0', '--connections', '2', '--targets', 'warmroute-rr', '--out', out], { interruptAt: 2, env: { TMPDIR: temp } });
  t.not(run.code, 0, 'interrupted runs do not report success');
  t.ok(run.descendants.length >= 2, 'upstream and proxy had been started');
  t.same(await noneAlive(run.descendants), [], 'every child was killed');
  t.notOk(existsSync(join(out, 'summary.json')), 'no summary for a run that did not finish');
  t.same(benchFolders(), [], 'its temporary folder was removed');
});

t.test('bad flags: a message naming the problem and exit status 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--connections', '0'], /--connections must be at least 1, got 0/],
    [['--workers', '2.5'], /--workers must be a whole number, got "2.5"/],
    [['--duration', 'ten'], /--duration must be a number, got "ten"/],
    [['--targets', 'direct,haproxy'], /unknown target "haproxy"/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--proxy-cpus', 'one'], /--proxy-cpus must be a CPU list .* got "one"/],
    [['--rounds', '0'], /--rounds must be at least 1, got 0/],
  ];
  const [runs, help] = await Promise.all([Promise.all(cases.map(([args]) => runBench(args))), runBench(['--help'])]);
  for (const [i, [args, message]] of cases.entries()) {
    const run = runs[i]!;
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
  t.equal(help.code, 0);
  t.match(help.stdout, /--connections N/);
});

t.test('nginx config: one worker, keep-alive upstream of the workers, the chosen balance', async (t) => {
  const rr = nginxConfig({ prefix: '/tmp/x', port: 8123, upstreams: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'], balance: 'round-robin' });
  t.match(rr, /^worker_processes 1;$/m);
  t.match(rr, /server 127\.0\.0\.1:9001;\n\s+server 127\.0\.0\.1:9002;/);
  t.match(rr, /keepalive 64;/);
  t.match(rr, /proxy_http_version 1\.1;/);
  t.match(rr, /proxy_set_header Connection "";/);
  t.match(rr, /access_log off;/);
  t.match(rr, /listen 127\.0\.0\.1:8123;/);
  t.match(rr, /pid \/tmp\/x\/nginx\.pid;/);
  t.notMatch(rr, /least_conn/);
  t.notMatch(rr, /daemon/, 'daemon off comes from -g, nginx rejects it twice');
  const lc = nginxConfig({ prefix: '/tmp/x', port: 8123, upstreams: ['http://127.0.0.1:9001'], balance: 'least_conn' });
  t.match(lc, /upstream workers \{\n\s+least_conn;/);
  const two = nginxConfig({ prefix: '/tmp/x', port: 8123, upstreams: ['http://127.0.0.1:9001'], balance: 'round-robin', workerProcesses: 2 });
  t.match(two, /^worker_processes 2;$/m, 'the -2 rows: two worker processes');
});

t.test('ratios against nginx round-robin and direct; nearest-rank percentiles', async (t) => {
  const load = (rps: number, p99: number): Row['load'] => ({
    durationSec: 1, responses: rps, requestsPerSec: rps, latencyMeanMs: 1, latencyP50Ms: 1, latencyP99Ms: p99, latencyMaxMs: p99, errors: 0, timeouts: 0, non2xx: 0,
  });
  const rows: Row[] = [
    { target: 'direct', kind: 'direct', policy: '-', status: 'measured', load: load(1000, 1) },
    { target: 'nginx-rr', kind: 'nginx', policy: 'round-robin', status: 'measured', load: load(500, 2) },
    { target: 'warmroute-rr', kind: 'warmroute', policy: 'round-robin', status: 'measured', load: load(250, 8) },
    { target: 'nginx-least-conn', kind: 'nginx', policy: 'least_conn', status: 'skipped', note: 'no nginx' },
  ];
  const [, nginx, warmroute, skipped] = withRatios(rows, 'nginx-rr', 'direct');
  t.same(nginx!.vsNginx, { requestsPerSec: 1, p99: 1 });
  t.same(warmroute!.vsNginx, { requestsPerSec: 0.5, p99: 4 });
  t.same(warmroute!.vsDirect, { requestsPerSec: 0.25, p99: 8 });
  t.same(skipped!.vsNginx, { requestsPerSec: null, p99: null });

  // The best Node proxy is the faster of reply-from and http-proxy; node-bare and node-raw, our own, never count.
  const withReferences: Row[] = [
    ...rows,
    { target: 'node-bare', kind: 'bare', policy: 'round-robin', status: 'measured', load: load(900, 1) },
    { target: 'node-reply-from', kind: 'reply-from', policy: 'round-robin', status: 'measured', load: load(100, 1) },
    { target: 'node-http-proxy', kind: 'http-proxy', policy: 'round-robin', status: 'measured', load: load(200, 1) },
    { target: 'warmroute-rr-2', kind: 'warmroute', policy: 'round-robin', status: 'measured', load: load(500, 1) },
  ];
  t.same(nodeProxyComparison(withReferences), {
    reference: 'node-http-proxy',
    referenceRequestsPerSec: 200,
    rows: [{ target: 'warmroute-rr', requestsPerSec: 250, ratio: 1.25 }, { target: 'warmroute-rr-2', requestsPerSec: 500, ratio: 2.5 }],
  });
  t.equal(nodeProxyComparison(rows), undefined, 'no Node proxy measured, no comparison');
  t.equal(nodeProxyComparison(withReferences.filter((r) => r.kind !== 'warmroute')), undefined, 'no warmroute row, no comparison');

  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentile(sorted, 50), 50);
  t.equal(percentile(sorted, 99), 99);
  t.equal(percentile(sorted, 100), 100);
  t.equal(percentile(Float64Array.of(7), 99), 7);
  t.ok(Number.isNaN(percentile(new Float64Array(0), 50)));
});

t.test('--proxy-node-args reach warmroute\'s node: a flag node refuses fails the row, a good one is recorded', async (t) => {
  const out = t.testdir();
  const [good, bad] = await Promise.all([
    runBench(['--duration', '0.5', '--warmup', '0', '--connections', '2', '--targets', 'warmroute-rr', '--proxy-node-args=--max-semi-space-size=4', '--out', out]),
    runBench(['--duration', '0.5', '--warmup', '0', '--connections', '2', '--targets', 'warmroute-rr', '--proxy-node-args=--no-such-node-flag', '--out', join(out, 'bad')]),
  ]);
  t.equal(good.code, 0, good.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { rows: SummaryRow[]; settings: { proxyNodeArgs: string[] } };
  t.same(summary.settings.proxyNodeArgs, ['--max-semi-space-size=4']);
  t.equal(summary.rows[0]!.status, 'measured');
  t.match(readFileSync(join(out, 'summary.md'), 'utf8'), /node --max-semi-space-size=4 dist\/src\/cli\.js start/);
  t.equal(bad.code, 1, 'a failed row fails the run');
  t.match(bad.stdout, /warmroute-rr\s+failed: [^\n]*exited[\s\S]*bad option: --no-such-node-flag/);
  t.same(await noneAlive(bad.descendants), [], 'nothing left running');
});

t.test('--rounds: each row is the run with the median req/s; ratios are paired within each round', async (t) => {
  const load = (rps: number, p99 = 1): Row['load'] => ({
    durationSec: 1, responses: rps, requestsPerSec: rps, latencyMeanMs: 1, latencyP50Ms: 1, latencyP99Ms: p99, latencyMaxMs: p99, errors: 0, timeouts: 0, non2xx: 0,
  });
  const round = (nginx: number, warmroute: number, httpProxy: number): Row[] => [
    { target: 'nginx-rr', kind: 'nginx', policy: 'round-robin', status: 'measured', load: load(nginx) },
    { target: 'warmroute-rr', kind: 'warmroute', policy: 'round-robin', status: 'measured', load: load(warmroute, warmroute) },
    { target: 'node-http-proxy', kind: 'http-proxy', policy: 'round-robin', status: 'measured', load: load(httpProxy) },
  ];
  const rounds = [round(1000, 900, 400), round(500, 400, 100), round(800, 700, 350)];
  const median = medianRows(rounds);
  t.same(median.map((r) => r.load!.requestsPerSec), [800, 700, 350], 'each target\'s middle run');
  t.equal(median[1]!.load!.latencyP99Ms, 700, 'every figure of a row from that one run');
  const vsNginx = roundRatiosVsNginx(rounds, 'nginx-rr', 'direct');
  t.same(vsNginx.map((r) => r.target), ['warmroute-rr', 'node-http-proxy']);
  t.same(vsNginx[0], { target: 'warmroute-rr', perRound: [0.9, 0.8, 0.875], median: 0.875, min: 0.8, max: 0.9 });
  t.same(roundRatiosVsNodeProxy(rounds), [{ target: 'warmroute-rr', perRound: [2.25, 4, 2], median: 2.25, min: 2, max: 4 }]);
  // A round whose baseline failed has no ratio; the target's measured run stands for it.
  const failed = [round(1000, 900, 400), [{ ...round(0, 0, 0)[0]!, status: 'failed' as const, load: undefined, note: 'exited' }, ...round(500, 450, 100).slice(1)]];
  t.same(roundRatiosVsNginx(failed, 'nginx-rr', 'direct')[0]!.perRound, [0.9, null]);
  t.equal(medianRows(failed)[0]!.load!.requestsPerSec, 1000, 'the measured run stands for the target');

  const out = t.testdir();
  const run = await runBench(['--duration', '0.5', '--warmup', '0', '--connections', '2', '--rounds', '2', '--targets', 'direct,warmroute-rr,node-http-proxy', '--out', out]);
  t.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { settings: { rounds: number }; rounds: { count: number; runs: Row[][]; vsBestNodeProxy: { target: string; perRound: number[] }[] } };
  t.equal(summary.settings.rounds, 2);
  t.equal(summary.rounds.runs.length, 2);
  t.same(summary.rounds.runs.map((r) => r.map((x) => x.target)), [['direct', 'warmroute-rr', 'node-http-proxy'], ['direct', 'warmroute-rr', 'node-http-proxy']], 'rounds listed in target order');
  t.ok(summary.rounds.runs.every((r) => r.every((x) => x.status === 'measured')));
  t.equal(summary.rounds.vsBestNodeProxy[0]!.perRound.length, 2);
  t.match(run.stdout, /round 2 of 2\n\s+node-http-proxy[\s\S]*warmroute-rr[\s\S]*direct/, 'the second round runs the targets in reverse');
  t.match(readFileSync(join(out, 'summary.md'), 'utf8'), /Rounds: 2[\s\S]*\| target \| round 1 \| round 2 \| median \| min \| max \|/);
});

t.test('two processes against one and against nginx\'s two: ratios paired within each round, then the median', async (t) => {
  const load = (rps: number): Row['load'] => ({
    durationSec: 1, responses: rps, requestsPerSec: rps, latencyMeanMs: 1, latencyP50Ms: 1, latencyP99Ms: 1, latencyMaxMs: 1, errors: 0, timeouts: 0, non2xx: 0,
  });
  const round = (rr: number, rr2: number, nginx: number, nginx2: number): Row[] => [
    { target: 'nginx-rr', kind: 'nginx', policy: 'round-robin', status: 'measured', load: load(nginx) },
    { target: 'warmroute-rr', kind: 'warmroute', policy: 'round-robin', status: 'measured', load: load(rr) },
    { target: 'nginx-rr-2', kind: 'nginx', policy: 'round-robin', status: 'measured', load: load(nginx2) },
    { target: 'warmroute-rr-2', kind: 'warmroute', policy: 'round-robin', status: 'measured', load: load(rr2) },
  ];
  const settings = { proxyCpus: undefined, loadCpus: undefined } as unknown as Parameters<typeof processLines>[1];
  // Medians of each target alone would give 800 / 1000 = 0.80x; the rounds' own ratios are 0.50, 0.90 and 1.00.
  const text = processLines([round(1000, 500, 2000, 1000), round(800, 900, 1000, 1000), round(700, 800, 1000, 800)], settings);
  t.match(text, /warmroute-rr-2 \/ nginx-rr-2 \(two processes each\): 0\.90x \(median of 3 rounds; 0\.50x, 0\.90x, 1\.00x\)/);
  t.match(text, /warmroute-rr-2 \/ warmroute-rr [^:]*: 1\.13x \(median of 3 rounds; 0\.50x, 1\.13x, 1\.14x\)/);
  t.match(text, /Nothing was pinned/);
  t.match(processLines([round(1000, 500, 2000, 1000)], settings), /two processes each\): 0\.50x\n/, 'one round: its ratio alone');
  t.equal(processLines([round(1000, 500, 2000, 1000).slice(0, 2)], settings), '', 'no two-process row, no lines');
});
