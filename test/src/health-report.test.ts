// A worker's /status body as the health checker reads it: fields it cannot use are ignored, never trusted.
import t from 'tap';
import { MIN_REPORTED_CORES, parseReport } from '../../src/health.js';

t.test('a status body gives packages, in-flight count and cores; malformed fields are left out', async (t) => {
  t.same(parseReport('{"packages": ["numpy", "six"], "inFlight": 3, "cores": 0.8}'), { packages: ['numpy', 'six'], inFlight: 3, cores: 0.8 });
  t.same(parseReport('{"packages": ["numpy", 7], "inFlight": -1, "cores": "4"}'), undefined, 'nothing usable: no report');
  t.same(parseReport('{"inFlight": 2.5, "cores": 2}'), { cores: 2 }, 'a fractional in-flight count is dropped, the rest kept');
  t.equal(parseReport('not json'), undefined);
  t.equal(parseReport('[1, 2]'), undefined, 'an array is not a report');
  t.equal(parseReport('null'), undefined);
});

t.test('cores below a hundredth are ignored: the processor-sharing price would overflow on them', async (t) => {
  t.same(parseReport(`{"cores": ${MIN_REPORTED_CORES}}`), { cores: MIN_REPORTED_CORES }, 'the floor itself is accepted');
  t.equal(parseReport('{"cores": 5e-324}'), undefined, 'a subnormal claim is not a report');
  t.equal(parseReport('{"cores": 0}'), undefined);
  t.equal(parseReport('{"cores": 1e400}'), undefined, 'Infinity (JSON overflow) is not a report');
});
