// The registry file: olscheduler's format, its checks, deep nesting, reload.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../src/config.js';
import { parseRegistryText, Registry } from '../../src/registry.js';

const parse = (text: string): Map<string, unknown> => parseRegistryText(text, 'r.json');

t.test("olscheduler's registry: names in file order, packages largest first as given", async (t) => {
  const r = await Registry.fromFile('config/registry.json');
  t.same([...r.names()], ['foo', 'bar']);
  t.same(r.lookup('foo'), { name: 'foo', packages: ['pkg0', 'pkg1'] });
  t.equal(r.lookup('nope'), undefined);
  t.equal(r.size, 2);
  t.notOk(r.isOpen);
  const thesis = await Registry.fromFile('config/registry-thesis.json');
  t.equal(thesis.size, 100);
  t.same(parse('[{"handle": "f.v-2_x"}]').get('f.v-2_x'), { name: 'f.v-2_x', packages: [] }, 'pkgs may be left out');
});

t.test('an open registry knows every name, with no packages', async (t) => {
  const r = Registry.open();
  t.ok(r.isOpen);
  t.same(r.lookup('anything'), { name: 'anything', packages: [] });
  t.equal(await r.reload(), 0);
});

t.test('every problem is a ConfigError naming the entry', async (t) => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const deepObject = `[{"handle":"a","pkgs":${'['.repeat(100_000)}${']'.repeat(100_000)}}]`;
  const cases: [string, RegExp][] = [
    ['{"foo": ["p"]}', /^r\.json: must be a JSON array of \{"handle": NAME, "pkgs": \[PACKAGE, \.\.\.\]\}, got an object$/],
    ['[{"handle": ', /^r\.json: not valid JSON/],
    ['[1]', /entry 0 is 1, not a \{"handle", "pkgs"\} object/],
    ['[[]]', /entry 0 is an array of 0 items/],
    ['[{"pkgs": []}]', /entry 0 has handle nothing; a handle is 1 to 255 letters/],
    ['[{"handle": ""}]', /entry 0 has handle ""/],
    ['[{"handle": ".."}]', /entry 0 has handle "\.\."/],
    ['[{"handle": "."}]', /entry 0 has handle "\."/],
    ['[{"handle": "a/b"}]', /entry 0 has handle "a\/b"/],
    ['[{"handle": "a b"}]', /entry 0 has handle "a b"/],
    [`[{"handle": "${'x'.repeat(256)}"}]`, /entry 0 has handle "x{80}\.\.\." \(256 characters\)/],
    ['[{"handle": "a", "pkgs": "numpy"}]', /entry 0 \("a"\) needs "pkgs" as an array of package names, got "numpy"/],
    ['[{"handle": "a", "pkgs": ["p", ""]}]', /entry 0 \("a"\) needs "pkgs" as an array of package names; package 1 is ""/],
    ['[{"handle": "a", "pkgs": [3]}]', /package 0 is 3/],
    ['[{"handle": "a"}, {"handle": "a"}]', /handle "a" appears twice/],
    [deep, /entry 0 is an array of 1 item/],
    [deepObject, /entry 0 \("a"\) needs "pkgs" as an array of package names; package 0 is an array of 1 item/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parse(text), message, text.slice(0, 60));
    t.throws(() => parse(text), ConfigError);
  }
});

t.test('a file: unreadable is an error, reload keeps the old contents on error', async (t) => {
  const dir = t.testdir({ 'r.json': '[{"handle": "a", "pkgs": ["p"]}]' });
  await t.rejects(Registry.fromFile(join(dir, 'missing.json')), /registry .*missing.json: cannot read it \(ENOENT\)/);
  const r = await Registry.fromFile(join(dir, 'r.json'));
  await writeFile(join(dir, 'r.json'), '[{"handle": "b"}, {"handle": "c"}]');
  t.equal(await r.reload(), 2);
  t.same([...r.names()], ['b', 'c']);
  await writeFile(join(dir, 'r.json'), '[{"handle": ".."}]');
  await t.rejects(r.reload(), ConfigError);
  t.same([...r.names()], ['b', 'c'], 'the running registry stays');
});
