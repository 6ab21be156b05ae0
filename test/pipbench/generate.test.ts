// The package generator: determinism, graph shape, registry order, fill-in, CLI.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { CommandIO } from '../../pipbench/commands/support.js';
import { main as generateMain } from '../../pipbench/commands/generate.js';
import {
  consistentHandlers,
  sizeRankFromLists,
  closure,
  compareNames,
  fillPackageTable,
  generateWorkload,
  levelFromName,
  levelSizes,
  loadCostSamples,
  synthesizePackageInfo,
  workloadFromRegistry,
  type CostSamples,
  type GenerateOptions,
} from '../../pipbench/generate/index.js';
import { WeightedSampler, seededRandom, zipfWeights } from '../../pipbench/random.js';
import type { PackageInfo, RegistryEntry } from '../../pipbench/package-info.js';

const OPTIONS: GenerateOptions = { packages: 300, handlers: 40, levels: 6, seed: 7, zipf: 1.4, importsMean: 4, repeat: 3 };

function capture(): { out: string; err: string; io: CommandIO } {
  const c = { out: '', err: '', io: { stdout: { write: (s: string) => void (c.out += s) }, stderr: { write: (s: string) => void (c.err += s) } } };
  return c;
}

async function readAll(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) files[name] = await readFile(join(dir, name), 'utf8');
  return files;
}

let samples: CostSamples;
t.before(async () => {
  samples = await loadCostSamples();
});

t.test('measured samples: 20 installs, 20 pass2 imports', async (t) => {
  t.equal(samples.installMs.length, 20);
  t.equal(samples.importMs.length, 20, 'only pass2 rows');
  t.equal(samples.importMem.length, 20);
  t.ok(samples.installMs.includes(7026.321), 'twisted install time is among them');
});

t.test('the CLI writes byte-identical files for the same seed, different ones for another', async (t) => {
  const dir = t.testdir({});
  const flags = ['--packages', '300', '--handlers', '40', '--levels', '6', '--repeat', '3'];
  for (const [out, seed] of [['a', '5'], ['b', '5'], ['c', '6']] as const) {
    const c = capture();
    t.equal(await generateMain([...flags, '--seed', seed, '--out', join(dir, out)], c.io), 0, c.err);
    t.match(c.out, /40 handlers/);
  }
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((d) => readAll(join(dir, d))));
  t.same(Object.keys(a!), ['handlers.txt', 'packages.json', 'registry.json']);
  t.same(a, b, 'same seed: identical bytes');
  t.not(a!['registry.json'], c!['registry.json'], 'another seed: another registry');
  t.not(a!['packages.json'], c!['packages.json'], 'another seed: another package table');

  const registry = JSON.parse(a!['registry.json'] as string) as RegistryEntry[];
  t.equal(registry.length, 40);
  t.ok(registry.every((e) => /^hdl\d+$/.test(e.handle) && e.pkgs.length > 0));
  const lines = (a!['handlers.txt'] as string).trimEnd().split('\n');
  t.equal(lines.length, 120, 'each handler --repeat times');
  t.same(lines.slice(0, 40), registry.map((e) => e.handle));
  t.same(lines.slice(40, 80), registry.map((e) => e.handle));
  const table = JSON.parse(a!['packages.json'] as string) as PackageInfo[];
  t.equal(table.length, 300);
});

t.test('graph: levels respected, every handler closed under deps and sorted largest first', async (t) => {
  const g = generateWorkload(OPTIONS, samples);
  const table = new Map(g.packages.map((p) => [p.name, p]));
  t.equal(table.size, OPTIONS.packages);
  t.same(levelSizes(OPTIONS.packages, OPTIONS.levels).reduce((a, b) => a + b, 0), OPTIONS.packages);

  for (const p of g.packages) {
    t.equal(levelFromName(p.name), p.level, `${p.name}: the name carries the level`);
    for (const dep of p.deps) {
      const d = table.get(dep);
      t.ok(d, `${p.name} -> ${dep} exists`);
      t.ok((d as PackageInfo).level < p.level, `${p.name} (level ${p.level}) depends on lower level ${dep}`);
    }
    if (p.level === 0) t.same(p.deps, [], `${p.name}: level 0 has no deps`);
    else t.ok(p.deps.some((d) => table.get(d)?.level === p.level - 1), `${p.name}: a dep one level down`);
    t.ok(p.bytes >= p.compressedBytes && p.compressedBytes > 0, `${p.name}: sizes`);
    t.ok(samples.installMs.includes(p.installMs) && samples.importMs.includes(p.importMs) && samples.importMem.includes(p.importMem), `${p.name}: costs are measured samples`);
  }

  for (const e of g.registry) {
    const listed = new Set(e.pkgs);
    t.equal(listed.size, e.pkgs.length, `${e.handle}: no duplicates`);
    t.same([...closure(listed, table)].sort(), [...listed].sort(), `${e.handle}: contains the transitive deps of everything it lists`);
    for (let i = 1; i < e.pkgs.length; i++) {
      const prev = table.get(e.pkgs[i - 1] as string) as PackageInfo;
      const cur = table.get(e.pkgs[i] as string) as PackageInfo;
      t.ok(prev.bytes > cur.bytes || (prev.bytes === cur.bytes && compareNames(prev.name, cur.name) < 0), `${e.handle}: ${prev.name} before ${cur.name}`);
    }
  }
});

t.test('handlers import popular packages more often (Zipf over popularity rank)', async (t) => {
  const g = generateWorkload({ ...OPTIONS, handlers: 200 }, samples);
  const byPopularity = [...g.packages].sort((a, b) => b.popularity - a.popularity);
  const uses = (p: PackageInfo): number => g.registry.filter((e) => e.pkgs.includes(p.name)).length;
  const top = byPopularity.slice(0, 5).reduce((n, p) => n + uses(p), 0);
  const bottom = byPopularity.slice(-100).reduce((n, p) => n + uses(p), 0);
  t.ok(top > bottom, `the 5 most popular are used more than the 100 least (${top} vs ${bottom})`);
});

t.test('generator options are validated', async (t) => {
  t.throws(() => generateWorkload({ ...OPTIONS, packages: 3, levels: 6 }, samples), /3 packages cannot fill 6 levels/);
  t.throws(() => generateWorkload({ ...OPTIONS, zipf: 0 }, samples), /zipf/);
  t.throws(() => generateWorkload({ ...OPTIONS, importsMean: 0.5 }, samples), /importsMean/);
  t.throws(() => generateWorkload({ ...OPTIONS, handlers: 0 }, samples), /handlers/);
});

t.test('fill-in for an existing registry is deterministic and independent of the handlers\' order', async (t) => {
  const registry: RegistryEntry[] = [
    { handle: 'hdl0_0', pkgs: ['level0pkg2735', 'level3pkg464', 'level0pkg1430'] },
    { handle: 'hdl1_0', pkgs: ['level2pkg110', 'level0pkg1430', 'numpy'] },
  ];
  const reversed: RegistryEntry[] = [...registry].reverse();
  const a = fillPackageTable(registry, new Map(), 1, samples);
  const b = fillPackageTable(reversed, new Map(), 1, samples);
  t.equal(a.size, 5);
  const drawnSizes = [...a.keys()].map((name) => synthesizePackageInfo(name, 1, samples).bytes).sort((x, y) => x - y);
  t.same([...a.values()].map((p) => p.bytes).sort((x, y) => x - y), drawnSizes, 'sizes are the per-name draws, handed out by the lists\' order');
  t.equal(consistentHandlers(registry, a), 2, 'both lists read largest first');
  for (const [name, info] of a) {
    t.same(b.get(name), info, `${name}: same info whatever the handlers' order`);
    const drawn = synthesizePackageInfo(name, 1, samples);
    t.same([info.installMs, info.importMs, info.importMem], [drawn.installMs, drawn.importMs, drawn.importMem], `${name}: costs depend on the name and seed only`);
  }
  t.equal(a.get('level3pkg464')?.level, 3, 'level from the name');
  t.equal(a.get('numpy')?.level, 0, 'names without a level get 0');
  t.not(fillPackageTable(registry, new Map(), 2, samples).get('level0pkg2735')?.bytes, a.get('level0pkg2735')?.bytes, 'another seed, other numbers');

  const known = new Map<string, PackageInfo>([['numpy', { ...(a.get('numpy') as PackageInfo), bytes: 42 }]]);
  t.equal(fillPackageTable(registry, known, 1, samples).get('numpy')?.bytes, 42, 'known entries are kept');

  const w = workloadFromRegistry(registry, 1, 2, samples);
  t.same(w.registry, registry, 'the registry is kept as given, order included');
  t.same(w.handlerList, ['hdl0_0', 'hdl1_0', 'hdl0_0', 'hdl1_0']);
});

t.test('CLI --from-registry on the thesis registry keeps it and is stable', async (t) => {
  const thesis = join(process.cwd(), 'pipbench', 'data', 'olscheduler-eval', 'registry_100_5.json');
  const given = JSON.parse(await readFile(thesis, 'utf8')) as RegistryEntry[];
  const dir = t.testdir({});
  const shuffled = join(dir, 'shuffled.json');
  await writeFile(shuffled, JSON.stringify([...given].reverse()));

  const c1 = capture();
  t.equal(await generateMain(['--from-registry', thesis, '--out', join(dir, 'a')], c1.io), 0, c1.err);
  const c2 = capture();
  t.equal(await generateMain(['--from-registry', shuffled, '--out', join(dir, 'b')], c2.io), 0, c2.err);
  const a = await readAll(join(dir, 'a'));
  const b = await readAll(join(dir, 'b'));
  t.same(JSON.parse(a['registry.json'] as string), given, 'registry written back unchanged');
  t.equal(a['packages.json'], b['packages.json'], 'package table independent of the registry order');
  const table = JSON.parse(a['packages.json'] as string) as PackageInfo[];
  t.equal(table.length, 180, 'every package the thesis registry names');
  t.ok(table.every((p) => p.level === levelFromName(p.name)));
  t.equal((a['handlers.txt'] as string).trimEnd().split('\n').length, 1000, '100 handlers x default repeat 10');
});

t.test('CLI: bad flags and bad inputs exit non-zero with a message naming the problem', async (t) => {
  const dir = t.testdir({
    'malformed.json': '[{"handle": ',
    'object.json': '{"handle": "h"}',
    'nopkgs.json': '[{"handle": "h", "pkgs": "numpy"}]',
  });
  const out = join(dir, 'out');
  const cases: [string[], RegExp][] = [
    [['--bogus', '--out', out], /bogus/],
    [['--packages', '10'], /--out/],
    [['--out', out, '--packages', 'ten'], /--packages/],
    [['--out', out, '--zipf', '-1'], /--zipf/],
    [['--out', out, '--repeat', '0'], /--repeat/],
    [['--out', out, '--seed', '1.5'], /--seed/],
    [['--out', out, '--packages', '2', '--levels', '5'], /cannot fill 5 levels/],
    [['--out', out, '--from-registry', join(dir, 'absent.json')], /absent\.json.*no such file/],
    [['--out', out, '--from-registry', join(dir, 'malformed.json')], /malformed\.json.*not valid JSON/],
    [['--out', out, '--from-registry', join(dir, 'object.json')], /object\.json.*array/],
    [['--out', out, '--from-registry', join(dir, 'nopkgs.json')], /nopkgs\.json.*"pkgs"/],
    [['--out', out, '--from-registry', join(dir, 'malformed.json'), '--packages', '5'], /--packages.*--from-registry/],
    [['--out', out, 'positional'], /positional/],
  ];
  for (const [argv, message] of cases) {
    const c = capture();
    const code = await generateMain(argv, c.io);
    t.ok(code !== 0, `non-zero exit for ${argv.join(' ')}`);
    t.match(c.err, message, `message for ${argv.join(' ')}`);
  }
  const help = capture();
  t.equal(await generateMain(['--help'], help.io), 0);
  t.match(help.out, /--from-registry/);
});

t.test('seeded randomness: repeatable streams, Zipf favours low ranks', async (t) => {
  const a = seededRandom(3);
  const b = seededRandom(3);
  const c = seededRandom(4);
  const xs = Array.from({ length: 5 }, () => a.next());
  t.same(Array.from({ length: 5 }, () => b.next()), xs, 'same seed, same stream');
  t.not(Array.from({ length: 5 }, () => c.next()).join(), xs.join(), 'other seed, other stream');
  t.ok(xs.every((x) => x >= 0 && x < 1));

  const sampler = new WeightedSampler(zipfWeights(50, 1.4));
  const counts = new Array<number>(50).fill(0);
  const r = seededRandom('zipf');
  for (let i = 0; i < 20000; i++) counts[sampler.sample(r)]!++;
  t.ok(counts[0]! > counts[1]! && counts[1]! > counts[4]! && counts[4]! > counts[40]!, `rank counts fall: ${counts.slice(0, 5).join(',')}...`);
  t.ok(Math.abs(counts[0]! / counts[1]! - Math.pow(2, 1.4)) < 0.4, 'rank 1 vs rank 2 is about 2^1.4');
  t.throws(() => new WeightedSampler([0, 0]), /positive/);
});

t.test('fill-in keeps the routing key meaningful: lists largest first where they agree, the hot key large', async (t) => {
  const thesis = join(process.cwd(), 'pipbench', 'data', 'olscheduler-eval', 'registry_100_5.json');
  const registry = JSON.parse(await readFile(thesis, 'utf8')) as RegistryEntry[];
  const samples = await loadCostSamples();
  const table = new Map(workloadFromRegistry(registry, 1, 1, samples).packages.map((p) => [p.name, p]));
  const consistent = consistentHandlers(registry, table);
  t.ok(consistent >= 80, `most handlers list their packages largest first (${consistent} of 100)`);
  const bySize = [...table.values()].sort((a, b) => b.bytes - a.bytes).map((p) => p.name);
  const rank = bySize.indexOf('level0pkg2735') + 1;
  t.ok(rank >= 1 && rank <= 18, `level0pkg2735, the key of 43 handlers, is among the largest 10% (rank ${rank} of ${bySize.length})`);
  for (const seed of [2, 3]) {
    const other = new Map(workloadFromRegistry(registry, seed, 1, samples).packages.map((p) => [p.name, p]));
    t.ok(consistentHandlers(registry, other) >= 80, `seed ${seed}: the ordering does not hang on one draw`);
  }
  // A registry without contradictions is made fully consistent, whatever the draws.
  const chain: RegistryEntry[] = [{ handle: 'h1', pkgs: ['z', 'y', 'x'] }, { handle: 'h2', pkgs: ['y', 'x', 'w'] }, { handle: 'h3', pkgs: ['z', 'w'] }];
  t.same(sizeRankFromLists(chain), ['z', 'y', 'x', 'w']);
  const chainTable = new Map(workloadFromRegistry(chain, 5, 1, samples).packages.map((p) => [p.name, p]));
  t.equal(consistentHandlers(chain, chainTable), 3);
  // A contradiction (a before b, b before a) leaves one of the two lists out of order, never a hang.
  const cycle: RegistryEntry[] = [{ handle: 'h1', pkgs: ['a', 'b'] }, { handle: 'h2', pkgs: ['b', 'a'] }];
  t.equal(sizeRankFromLists(cycle).length, 2);
  t.equal(consistentHandlers(cycle, new Map(workloadFromRegistry(cycle, 1, 1, samples).packages.map((p) => [p.name, p]))), 1);
});
