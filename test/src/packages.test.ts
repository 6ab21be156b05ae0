// The optional package table: both file formats pipbench knows, and clear errors.
import { join } from 'node:path';
import t from 'tap';
import { formatPackagesJson } from '../../pipbench/generate/index.js';
import { ConfigError } from '../../src/config.js';
import { parsePackageTableText, readPackageTable } from '../../src/packages.js';

t.test("pipbench generate's packages.json gives size, install and import cost", async (t) => {
  const written = formatPackagesJson([
    { name: 'numpy', level: 0, deps: [], popularity: 1, compressedBytes: 10, bytes: 40, installMs: 1500, importMs: 120, importMem: 7 },
    { name: 'p2', level: 1, deps: ['numpy'], popularity: 0.5, compressedBytes: 1, bytes: 2, installMs: 0, importMs: 0, importMem: 0 },
  ]);
  const table = parsePackageTableText(written, 'p.json');
  t.same(table.get('numpy'), { sizeBytes: 40, installMs: 1500, importMs: 120 });
  t.same(table.get('p2'), { sizeBytes: 2, installMs: 0, importMs: 0 });
  t.equal(table.size, 2);
});

t.test("the original pipbench spec format: seconds become milliseconds", async (t) => {
  const table = parsePackageTableText('[{"name": "a", "popularity": 3, "deps": [], "compressed": 5, "uncompressed": 9, "install_cpu": 1.5, "import_cpu": 0.25, "import_mem": 1}]', 'p.json');
  t.same(table.get('a'), { sizeBytes: 9, installMs: 1500, importMs: 250 });
});

t.test('bad tables are ConfigErrors naming the package and field', async (t) => {
  const cases: [string, RegExp][] = [
    ['{}', /^p\.json: must be a JSON array of .*got an object$/],
    ['[1', /^p\.json: not valid JSON/],
    ['[7]', /entry 0 is 7, not a package object/],
    ['[{"bytes": 1}]', /entry 0 needs "name" as a non-empty string, got nothing/],
    ['[{"name": "a", "bytes": -1, "installMs": 1, "importMs": 1}]', /package "a" needs "bytes" as a number from 0 to 9007199254740991, got -1/],
    ['[{"name": "a", "bytes": 1, "installMs": "1", "importMs": 1}]', /package "a" needs "installMs" .*got "1"/],
    ['[{"name": "a", "bytes": 1, "installMs": 1}]', /package "a" needs "importMs" .*got nothing/],
    ['[{"name": "a", "uncompressed": 1, "install_cpu": 1e300, "import_cpu": 1}]', /package "a" needs "install_cpu" as a number of seconds from 0 to 9007199254740, got 1e\+300/],
    ['[{"name": "a", "bytes": 1, "installMs": 1, "importMs": 1}, {"name": "a", "bytes": 1, "installMs": 1, "importMs": 1}]', /package "a" appears twice/],
    [`[${'['.repeat(100_000)}${']'.repeat(100_000)}]`, /entry 0 is an array of 1 item/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parsePackageTableText(text, 'p.json'), message, text.slice(0, 60));
    t.throws(() => parsePackageTableText(text, 'p.json'), ConfigError);
  }
  const dir = t.testdir({});
  await t.rejects(readPackageTable(join(dir, 'none.json')), /package table .*none.json: cannot read it \(ENOENT\)/);
});
