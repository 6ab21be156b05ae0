// loadWorkload: registries, package tables (ours and pipbench's), handler lists, errors.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { main as generateMain } from '../../pipbench/commands/generate.js';
import { fillPackageTable, loadCostSamples } from '../../pipbench/generate/index.js';
import type { PackageInfo, RegistryEntry } from '../../pipbench/package-info.js';
import { footprintBytes, loadWorkload, parseHandlerList } from '../../pipbench/workload.js';

const thesisDir = join(process.cwd(), 'pipbench', 'data', 'olscheduler-eval');

const quiet = { stdout: { write: (): void => {} }, stderr: { write: (): void => {} } };

t.test('a registry alone: every package filled in, handlers default to the registry keys', async (t) => {
  const registry: RegistryEntry[] = [
    { handle: 'b', pkgs: ['level1pkg3', 'level0pkg9'] },
    { handle: 'a', pkgs: ['level0pkg9'] },
  ];
  const dir = t.testdir({ 'registry.json': JSON.stringify(registry) });
  const w = await loadWorkload({ registry: join(dir, 'registry.json') });
  t.same([...w.registry.entries()], [['b', ['level1pkg3', 'level0pkg9']], ['a', ['level0pkg9']]], 'order kept as given');
  t.same(w.handlers, ['b', 'a']);
  t.same([...w.packages.keys()].sort(), ['level0pkg9', 'level1pkg3']);
  const samples = await loadCostSamples();
  t.same(w.packages, fillPackageTable(registry, new Map(), 1, samples), 'filled in as generate --from-registry does, default seed 1');
  const seeded = await loadWorkload({ registry: join(dir, 'registry.json'), seed: 9 });
  t.same(seeded.packages, fillPackageTable(registry, new Map(), 9, samples), 'seed honoured');
});

t.test('the thesis registry and handler list load as given', async (t) => {
  const w = await loadWorkload({ registry: join(thesisDir, 'registry_100_5.json'), handlers: join(thesisDir, 'handlers_1000.txt') });
  t.equal(w.registry.size, 100);
  t.equal(w.packages.size, 180);
  t.equal(w.handlers.length, 1000);
  t.equal(w.handlers[0], 'hdl0_0');
  t.equal(w.registry.get('hdl0_0')?.[0], 'level0pkg2735', 'largest package first, as in the file');
  const footprint = footprintBytes(w.packages.keys(), w.packages);
  t.ok(footprint > 0, `footprint ${(footprint / 2 ** 20).toFixed(1)} MiB`);
});

t.test('one handler-list rule: blank lines and # comments are skipped, names trimmed', async (t) => {
  t.same(parseHandlerList('a\n\n b \n# comment\n  # indented comment\nc\r\n'), ['a', 'b', 'c']);
  t.same(parseHandlerList('# only a comment\n\n'), []);
  const dir = t.testdir({
    'registry.json': JSON.stringify([{ handle: 'a', pkgs: ['level0pkg1'] }, { handle: 'b', pkgs: [] }]),
    'handlers.txt': '# drawn by the runner\na\n\nb\n# a\na\n',
    'comments.txt': '# nothing but comments\n',
  });
  const w = await loadWorkload({ registry: join(dir, 'registry.json'), handlers: join(dir, 'handlers.txt') });
  t.same(w.handlers, ['a', 'b', 'a'], 'loadWorkload reads the list by the same rule as the run command');
  await t.rejects(loadWorkload({ registry: join(dir, 'registry.json'), handlers: join(dir, 'comments.txt') }), /comments\.txt: the handler list is empty/);
});

t.test('generated files load back to the same tables', async (t) => {
  const dir = t.testdir({});
  t.equal(await generateMain(['--out', dir, '--packages', '120', '--handlers', '15', '--levels', '4', '--repeat', '2'], quiet), 0);
  const w = await loadWorkload({ registry: join(dir, 'registry.json'), packages: join(dir, 'packages.json'), handlers: join(dir, 'handlers.txt') });
  const table = JSON.parse(await readFile(join(dir, 'packages.json'), 'utf8')) as PackageInfo[];
  t.equal(w.packages.size, 120);
  for (const p of table) t.same(w.packages.get(p.name), p, `${p.name} as written`);
  t.equal(w.handlers.length, 30);
});

t.test('a partial package table is completed; pipbench spec format is understood', async (t) => {
  const registry = [{ handle: 'h', pkgs: ['known', 'spec', 'level2pkg5'] }];
  const ours: PackageInfo = { name: 'known', level: 0, deps: [], popularity: 0.5, compressedBytes: 10, bytes: 30, installMs: 1, importMs: 2, importMem: 3 };
  const spec = { name: 'spec', popularity: 4, deps: ['known'], compressed: 100, uncompressed: 300, subfiles: 2, install_cpu: 1.5, import_cpu: 0.25, import_mem: 4096 };
  const dir = t.testdir({
    'registry.json': JSON.stringify(registry),
    'ours.json': JSON.stringify([ours, spec]),
  });
  const w = await loadWorkload({ registry: join(dir, 'registry.json'), packages: join(dir, 'ours.json') });
  t.same(w.packages.get('known'), ours);
  t.same(w.packages.get('spec'), { name: 'spec', level: 0, deps: ['known'], popularity: 4, compressedBytes: 100, bytes: 300, installMs: 1500, importMs: 250, importMem: 4096 }, 'seconds become ms');
  t.equal(w.packages.get('level2pkg5')?.level, 2, 'missing name filled in');
});

t.test('errors name the file and the problem', async (t) => {
  const dir = t.testdir({
    'registry.json': JSON.stringify([{ handle: 'h', pkgs: ['a'] }]),
    'dup.json': JSON.stringify([{ handle: 'h', pkgs: [] }, { handle: 'h', pkgs: [] }]),
    'empty.json': '[]',
    'badpkgs.json': JSON.stringify([{ handle: 'h', pkgs: [1] }]),
    'garbled.json': 'not json',
    'table.json': JSON.stringify([{ name: 'a', bytes: -1 }]),
    'partial.json': JSON.stringify([{ name: 'a', bytes: 1, installMs: 1, importMs: 1 }]),
    'handlers.txt': 'h\nghost\n',
    'blank.txt': '\n\n',
  });
  const r = join(dir, 'registry.json');
  await t.rejects(loadWorkload({ registry: join(dir, 'nope.json') }), /nope\.json: no such file/);
  await t.rejects(loadWorkload({ registry: dir }), /is a directory/);
  await t.rejects(loadWorkload({ registry: join(dir, 'garbled.json') }), /garbled\.json: not valid JSON/);
  await t.rejects(loadWorkload({ registry: join(dir, 'dup.json') }), /dup\.json: handle "h" appears twice/);
  await t.rejects(loadWorkload({ registry: join(dir, 'empty.json') }), /empty\.json: the registry lists no handlers/);
  await t.rejects(loadWorkload({ registry: join(dir, 'badpkgs.json') }), /badpkgs\.json: entry 0 \("h"\) needs "pkgs"/);
  await t.rejects(loadWorkload({ registry: r, packages: join(dir, 'table.json') }), /table\.json: package "a" needs "bytes" as a number from 0 to \d+, got -1/);
  await t.rejects(loadWorkload({ registry: r, packages: join(dir, 'partial.json') }), /partial\.json: package "a" needs "compressedBytes": a non-negative number, got nothing/, 'pipbench needs its own fields too');
  await t.rejects(loadWorkload({ registry: r, packages: join(dir, 'registry.json') }), /registry\.json: entry 0 needs "name" as a non-empty string, got nothing/);
  await t.rejects(loadWorkload({ registry: r, handlers: join(dir, 'handlers.txt') }), /handlers\.txt: handler "ghost" is not in the registry/);
  await t.rejects(loadWorkload({ registry: r, handlers: join(dir, 'blank.txt') }), /blank\.txt: the handler list is empty/);
  await t.rejects(loadWorkload({ registry: r, handlers: join(dir, 'absent.txt') }), /absent\.txt: no such file/);
});
