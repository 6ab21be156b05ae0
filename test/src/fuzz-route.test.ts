// The invocation route parse: its rules, then properties over any request target.
import fc from 'fast-check';
import t from 'tap';
import { isFunctionName, parseFunctionName } from '../../src/route.js';

t.test('the two route forms, a query, and what is refused', async (t) => {
  t.same(parseFunctionName('/runLambda/hello'), { ok: true, name: 'hello', query: '' });
  t.same(parseFunctionName('/run/f.v-2_x?debug=1&a=b'), { ok: true, name: 'f.v-2_x', query: '?debug=1&a=b' });
  t.equal(parseFunctionName('/status'), undefined, 'other routes are not invocations');
  t.equal(parseFunctionName('/runLambdas/x'), undefined);
  t.equal(parseFunctionName('/running'), undefined);
  const refused: [string, RegExp][] = [
    ['/runLambda/..', /"\.\." is not a function name/],
    ['/runLambda/.', /"\." is not a function name/],
    ['/run/..?x=1', /"\.\." is not a function name/],
    ['/runLambda/%2e%2e', /percent-encoded/],
    ['/runLambda/he%6clo', /percent-encoded/],
    ['/runLambda/', /needs a function name/],
    ['/runLambda', /needs a function name/],
    ['/run?x', /needs a function name/],
    ['/runLambda/a/b', /has a "\/"/],
    ['/runLambda/a/', /has a "\/"/],
    ['/runLambda/a#b', /not valid|fragment/],
    ['/runLambda/a b', /is not valid/],
    ['/runLambda/caf\u00e9', /is not valid/],
    [`/runLambda/${'x'.repeat(256)}`, /is not valid: 1 to 255/],
  ];
  for (const [target, message] of refused) {
    const r = parseFunctionName(target);
    t.equal(r?.ok, false, target);
    if (r !== undefined && !r.ok) t.match(r.message, message, target);
  }
});

t.test('any target: undefined, a valid name, or a message; never a throw', async (t) => {
  const segment = fc.oneof(fc.string({ maxLength: 12 }), fc.stringMatching(/^[A-Za-z0-9_.%-]{0,8}$/), fc.constantFrom('.', '..', '%2e%2e', ''));
  const target = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.tuple(fc.constantFrom('/runLambda/', '/run/', '/runLambda', '/run', '/x/'), segment, fc.constantFrom('', '?', '?a=1', '#f', '/..', '/')).map((p) => p.join('')),
  );
  const seen = { other: 0, ok: 0, refused: 0 };
  fc.assert(fc.property(target, (s) => {
    const r = parseFunctionName(s);
    if (r === undefined) {
      seen.other++;
      return;
    }
    if (!r.ok) {
      seen.refused++;
      if (r.message === '' || r.message.length > 200) throw new Error(`message of ${r.message.length} characters`);
      return;
    }
    seen.ok++;
    if (!isFunctionName(r.name) || r.name === '.' || r.name === '..' || r.name.includes('%')) throw new Error(`accepted "${r.name}"`);
  }), { numRuns: 1000 });
  t.ok(seen.other > 0 && seen.ok > 0 && seen.refused > 0, `every outcome reached: ${JSON.stringify(seen)}`);
});

t.test('a valid name with any query round-trips through both routes', async (t) => {
  const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/).filter((n) => n !== '.' && n !== '..');
  const query = fc.oneof(fc.constant(''), fc.string({ maxLength: 20 }).map((q) => `?${q.replace(/#/g, '')}`));
  fc.assert(fc.property(name, query, fc.constantFrom('/runLambda/', '/run/'), (n, q, prefix) => {
    const r = parseFunctionName(`${prefix}${n}${q}`);
    if (r === undefined || !r.ok || r.name !== n || r.query !== q) throw new Error(`${prefix}${n}${q} -> ${JSON.stringify(r)}`);
  }), { numRuns: 1000 });
  t.pass('1000 names round-trip');
});
