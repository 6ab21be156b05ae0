// Property tests of the registry and package-table parsers: any input gives a
// table or a ConfigError; a valid registry written out reads back the same.
import fc from 'fast-check';
import t from 'tap';
import { ConfigError } from '../../src/config.js';
import { parsePackageTableText } from '../../src/packages.js';
import { parseRegistryText } from '../../src/registry.js';

function classify(run: () => unknown): 'parsed' | 'refused' {
  try {
    run();
    return 'parsed';
  } catch (err) {
    if (err instanceof ConfigError) return 'refused';
    throw err;
  }
}

const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/).filter((n) => n !== '.' && n !== '..');
/** Registry-shaped JSON with random flaws: wrong types, bad names, odd packages, nesting. */
const entry = fc.oneof(
  fc.record({ handle: fc.oneof(name, fc.string({ maxLength: 6 }), fc.constantFrom('.', '..', '', 'a/b')), pkgs: fc.oneof(fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })), { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 3 }),
);
const registryText = fc.oneof(
  fc.array(entry, { maxLength: 6 }).map((e) => JSON.stringify(e)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
  fc.constantFrom(1, 2, 100_000).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
);

t.test('any registry text: a registry or a ConfigError', async (t) => {
  const seen = { parsed: 0, refused: 0 };
  fc.assert(fc.property(registryText, (text) => { seen[classify(() => parseRegistryText(text, 'r.json'))]++; }), { numRuns: 500 });
  t.ok(seen.parsed > 0 && seen.refused > 0, `both outcomes reached: ${JSON.stringify(seen)}`);
});

t.test('a valid registry reads back with the same names, order and packages', async (t) => {
  const registry = fc.uniqueArray(fc.record({ handle: name, pkgs: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 5 }) }), { selector: (e) => e.handle, maxLength: 20 });
  fc.assert(fc.property(registry, (entries) => {
    const read = parseRegistryText(JSON.stringify(entries), 'r.json');
    const back = [...read.values()].map((f) => ({ handle: f.name, pkgs: [...f.packages] }));
    if (JSON.stringify(back) !== JSON.stringify(entries)) throw new Error(`read back differently: ${JSON.stringify(back)}`);
  }), { numRuns: 300 });
  t.pass('300 registries round-trip');
});

t.test('any package table text: a table or a ConfigError', async (t) => {
  const pkg = fc.record({
    name: fc.oneof(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })),
    bytes: fc.oneof(fc.nat(), fc.double(), fc.jsonValue({ maxDepth: 1 })),
    installMs: fc.oneof(fc.nat(), fc.double(), fc.string({ maxLength: 3 })),
    importMs: fc.oneof(fc.nat(), fc.double()),
    uncompressed: fc.nat(),
    install_cpu: fc.double(),
    import_cpu: fc.double(),
  }, { requiredKeys: [] });
  const text = fc.oneof(fc.array(fc.oneof(pkg, fc.jsonValue({ maxDepth: 2 })), { maxLength: 5 }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 30 }));
  const seen = { parsed: 0, refused: 0 };
  fc.assert(fc.property(text, (s) => { seen[classify(() => parsePackageTableText(s, 'p.json'))]++; }), { numRuns: 500 });
  t.ok(seen.parsed > 0 && seen.refused > 0, `both outcomes reached: ${JSON.stringify(seen)}`);
});
