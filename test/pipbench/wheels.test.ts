// The real package repository: deterministic wheels with valid RECORDs, a PEP 503
// index, and packages that pip really installs and Python really imports.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import t from 'tap';
import { main as generateMain } from '../../pipbench/commands/generate.js';
import type { CommandIO } from '../../pipbench/commands/support.js';
import type { PackageInfo } from '../../pipbench/package-info.js';
import { pythonNames, pythonNameTable, writeHandlers, writePackageRepository, type RepositoryOptions } from '../../pipbench/generate/wheels.js';

/** The interpreter itself, not a launcher in front of it (a pyenv shim costs half a second a call). */
const PYTHON = ((): string => {
  const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() !== '' ? found.stdout.trim() : 'python3';
})();

function pkg(name: string, deps: string[], costs: Partial<PackageInfo> = {}): PackageInfo {
  return { name, level: deps.length > 0 ? 1 : 0, deps, popularity: 1, compressedBytes: 40_000, bytes: 120_000, installMs: 40, importMs: 10, importMem: 1 << 20, ...costs };
}

// Import costs large enough to measure through a loaded machine's noise, install costs small to keep pip quick.
const TABLE: PackageInfo[] = [
  pkg('base-lib', [], { importMs: 120, importMem: 24 << 20 }),
  pkg('app.core', ['base-lib'], { importMs: 180, compressedBytes: 200_000, bytes: 600_000 }),
];
const OPTIONS: RepositoryOptions = { sizeScale: 1, costScale: 1, seed: 4 };

function capture(): { out: string; err: string; io: CommandIO } {
  const c = { out: '', err: '', io: { stdout: { write: (s: string) => void (c.out += s) }, stderr: { write: (s: string) => void (c.err += s) } } };
  return c;
}

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile())) {
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length), await readFile(path));
  }
  return files;
}

const pipMissing = ((): string | false => {
  const probe = spawnSync(PYTHON, ['-m', 'pip', '--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) return 'python3 is not on PATH';
  return probe.status === 0 ? false : `${PYTHON} has no pip (${probe.stderr.trim().split('\n').pop() ?? ''})`;
})();

t.test('names: the table name as distribution, module and wheel file; collisions refused', async (t) => {
  t.same(pythonNames('level0pkg12'), { name: 'level0pkg12', distribution: 'level0pkg12', importName: 'level0pkg12', wheelFile: 'level0pkg12-1.0.0-py3-none-any.whl' });
  t.same(pythonNames('App.Core__x'), { name: 'App.Core__x', distribution: 'app-core-x', importName: 'app_core_x', wheelFile: 'app_core_x-1.0.0-py3-none-any.whl' });
  t.equal(pythonNames('3d-tools').importName, 'pkg_3d_tools', 'a module cannot start with a digit');
  t.equal(pythonNames('import').importName, 'pkg_import', 'nor be a keyword');
  t.throws(() => pythonNames('..'), /no letter or digit/);
  t.throws(() => pythonNameTable(['a-b', 'A_B']), /"a-b" and "A_B" would both become the Python distribution a-b/);
});

t.test('deterministic: same seed, same bytes; another seed, other data', async (t) => {
  const dir = t.testdir({});
  const [a, b, c] = await Promise.all(
    (
      [
        ['a', 4],
        ['b', 4],
        ['c', 5],
      ] as const
    ).map(async ([out, seed]) => {
      await writePackageRepository(TABLE, join(dir, out), { ...OPTIONS, seed });
      return filesOf(join(dir, out));
    }),
  );
  t.same([...a!.keys()].sort(), [
    '/app_core-1.0.0-py3-none-any.whl',
    '/base_lib-1.0.0-py3-none-any.whl',
    '/simple/app-core/index.html',
    '/simple/base-lib/index.html',
    '/simple/index.html',
  ]);
  t.same(a, b, 'byte-identical for the same seed');
  t.not(a!.get('/base_lib-1.0.0-py3-none-any.whl')?.toString('hex'), c!.get('/base_lib-1.0.0-py3-none-any.whl')?.toString('hex'), 'another seed, another wheel');
});

t.test('wheels: RECORD hashes and sizes valid, metadata names the deps, sizes near the table', async (t) => {
  const dir = t.testdir({});
  const repo = await writePackageRepository(TABLE, dir, OPTIONS);
  for (const summary of repo.wheels) {
    const info = TABLE.find((p) => p.name === summary.name) as PackageInfo;
    const bytes = await readFile(join(dir, summary.wheelFile));
    t.equal(bytes.length, summary.wheelBytes);
    t.ok(Math.abs(bytes.length - info.compressedBytes) < 0.02 * info.compressedBytes, `${summary.wheelFile}: ${bytes.length} bytes, about compressedBytes ${info.compressedBytes}`);
    const files = unzipSync(bytes);
    const distInfo = `${summary.wheelFile.split('-')[0]}-1.0.0.dist-info`;
    const record = new TextDecoder().decode(files[`${distInfo}/RECORD`]);
    const rows = record.trimEnd().split('\n').map((line) => line.split(','));
    t.same(rows.map((r) => r[0]).sort(), Object.keys(files).sort(), 'RECORD lists every file');
    for (const [path, hash, size] of rows) {
      if (path === `${distInfo}/RECORD`) {
        t.same([hash, size], ['', ''], 'RECORD does not hash itself');
        continue;
      }
      const data = files[path as string] as Uint8Array;
      t.equal(hash, `sha256=${createHash('sha256').update(data).digest('base64url')}`, `${path} hash`);
      t.equal(Number(size), data.length, `${path} size`);
    }
    const installed = Object.values(files).reduce((sum, f) => sum + f.length, 0);
    t.equal(installed, summary.installedBytes);
    t.ok(installed >= info.bytes && installed < info.bytes * 1.02, `installed ${installed} about bytes ${info.bytes}`);
    const metadata = new TextDecoder().decode(files[`${distInfo}/METADATA`]);
    t.match(metadata, new RegExp(`^Name: ${summary.distribution}$`, 'm'));
    t.same(metadata.match(/^Requires-Dist: .*$/gm) ?? [], info.deps.map((d) => `Requires-Dist: ${pythonNames(d).distribution}`));
    t.equal(new TextDecoder().decode(files[`${distInfo}/top_level.txt`]), `${summary.importName}\n`);
  }
});

t.test('simple index: every project listed, every link names an existing wheel with its sha256', async (t) => {
  const dir = t.testdir({});
  await writePackageRepository(TABLE, dir, OPTIONS);
  const root = await readFile(join(dir, 'simple', 'index.html'), 'utf8');
  const projects = [...root.matchAll(/<a href="([^"]+)\/">/g)].map((m) => m[1] as string);
  t.same(projects, ['app-core', 'base-lib']);
  for (const project of projects) {
    const page = await readFile(join(dir, 'simple', project, 'index.html'), 'utf8');
    const links = [...page.matchAll(/<a href="\.\.\/\.\.\/([^"#]+)#sha256=([0-9a-f]{64})">/g)];
    t.equal(links.length, 1, `${project}: one wheel`);
    const [, file, sha] = links[0] as RegExpMatchArray;
    t.equal(createHash('sha256').update(await readFile(join(dir, file as string))).digest('hex'), sha, `${file} matches its link`);
  }
});

t.test('pip installs from the repo with dependencies; import burns CPU and holds memory; the handler answers', { skip: pipMissing }, async (t) => {
  const dir = t.testdir({});
  const repo = join(dir, 'repo');
  const target = join(dir, 'site');
  const handlers = join(dir, 'handlers');
  await writePackageRepository(TABLE, repo, OPTIONS);
  await writeHandlers([{ handle: 'hdl0', pkgs: ['app.core', 'base-lib'] }], handlers, TABLE);
  t.equal(await readFile(join(handlers, 'hdl0', 'packages.txt'), 'utf8'), 'app-core\nbase-lib\n');

  const env = { ...process.env, PIP_CONFIG_FILE: '/dev/null', PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  const pip = spawnSync(PYTHON, ['-m', 'pip', 'install', '-q', '--no-index', '--find-links', repo, '--target', target, 'app-core'], { encoding: 'utf8', env });
  t.equal(pip.status, 0, `pip install: ${pip.stderr}`);
  const installed = (await readdir(target)).sort();
  t.same(installed, ['app_core', 'app_core-1.0.0.dist-info', 'base_lib', 'base_lib-1.0.0.dist-info'], 'the dependency came along');
  t.ok((await readdir(join(target, 'app_core', '__pycache__'))).some((f) => f.startsWith('_install_cost.')), 'pip byte-compiled the install-cost module');

  // Process CPU and resident memory that the import adds, measured inside the interpreter.
  const probe = [
    'import sys, time, json',
    `sys.path[:0] = [${JSON.stringify(target)}, ${JSON.stringify(join(handlers, 'hdl0'))}]`,
    'rss = lambda: int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) * 1024',
    'r0, c0 = rss(), time.process_time()',
    'import lambda_func',
    'print(json.dumps({"cpuMs": (time.process_time() - c0) * 1000, "rss": rss() - r0, "answer": lambda_func.handler({})}))',
  ].join('\n');
  const run = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8', env });
  t.equal(run.status, 0, `python: ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { cpuMs: number; rss: number; answer: unknown };
  const importMs = TABLE.reduce((sum, p) => sum + p.importMs, 0);
  t.ok(result.cpuMs >= 0.9 * importMs, `import burned ${result.cpuMs.toFixed(0)} ms of process CPU for ${importMs} ms of importMs`);
  t.ok(result.cpuMs < 20 * importMs, 'and not wildly more');
  t.ok(result.rss >= 0.8 * (24 << 20), `import holds ${(result.rss / 2 ** 20).toFixed(1)} MiB resident for base-lib's 24 MiB`);
  t.same(result.answer, { handler: 'hdl0', packages: 2 });
});

t.test('bad input: a missing dependency or handler package is named, nothing half-written', async (t) => {
  const dir = t.testdir({});
  await t.rejects(writePackageRepository([pkg('a', ['gone'])], join(dir, 'repo'), OPTIONS), /package "a" depends on "gone", which the package table lacks/);
  t.same(await readdir(dir), [], 'no repo folder written');
  await t.rejects(writeHandlers([{ handle: 'h', pkgs: ['nope'] }], join(dir, 'handlers'), TABLE), /handler "h" needs package "nope"/);
  await t.rejects(writePackageRepository(TABLE, join(dir, 'repo'), { sizeScale: 0 }), /sizeScale must be a positive finite number/);
  await t.rejects(writePackageRepository(TABLE, join(dir, 'repo'), { costScale: Number.POSITIVE_INFINITY }), /costScale must be a positive finite number/);
});

t.test('generate --wheels writes repo/ and handlers/; bad scales are usage errors', async (t) => {
  const dir = t.testdir({});
  const c = capture();
  const flags = ['--packages', '6', '--handlers', '3', '--levels', '2', '--seed', '2', '--wheels', '--size-scale', '0.05', '--cost-scale', '0.01'];
  t.equal(await generateMain([...flags, '--out', dir], c.io), 0, c.err);
  t.match(c.out, /wheels at size scale 0\.05, cost scale 0\.01: 6 wheels/);
  t.equal((await readdir(join(dir, 'repo'))).filter((f) => f.endsWith('.whl')).length, 6);
  const registry = JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8')) as { handle: string; pkgs: string[] }[];
  t.same((await readdir(join(dir, 'handlers'))).sort(), registry.map((e) => e.handle).sort());
  for (const e of registry) t.equal(await readFile(join(dir, 'handlers', e.handle, 'packages.txt'), 'utf8'), e.pkgs.map((p) => `${p}\n`).join(''));

  for (const [bad, message] of [
    [['--wheels', '--size-scale', '0'], /--size-scale must be greater than 0/],
    [['--wheels', '--cost-scale=-1'], /--cost-scale must be greater than 0/],
    [['--wheels', '--cost-scale', 'Infinity'], /--cost-scale must be a number/],
    [['--wheels', '--size-scale', 'x'], /--size-scale must be a number/],
    [['--size-scale', '0.5'], /--size-scale scales the wheels and needs --wheels/],
  ] as const) {
    const e = capture();
    t.equal(await generateMain([...bad, '--out', join(dir, 'bad')], e.io), 2, `${bad.join(' ')}: usage error`);
    t.match(e.err, message);
  }
});
