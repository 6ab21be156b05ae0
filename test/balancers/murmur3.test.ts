import t from 'tap';
import { murmur3, murmur3Bytes, murmur3Numbered } from '../../balancers/murmur3.js';

// Published MurmurHash3 x86_32 test vectors; any mixing mistake changes them.
const vectors: readonly [string, number, number][] = [
  ['', 0, 0],
  ['', 1, 0x514e28b7],
  ['', 0xffffffff, 0x81f16f39],
  ['a', 0x9747b28c, 0x7fa09ea6],
  ['abc', 0, 0xb3dd93fa],
  ['aaaa', 0x9747b28c, 0x5a97808a],
  ['hello', 0, 0x248bfa47],
  ['Hello, world!', 0, 0xc0363e43],
  ['Hello, world!', 0x9747b28c, 0x24884cba],
  ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ['ππππππππ', 0x9747b28c, 0xd58063c1],
];

t.test('matches the published murmur3 x86_32 vectors', async (t) => {
  for (const [key, seed, expected] of vectors) {
    t.equal(murmur3(key, seed), expected, `murmur3(${JSON.stringify(key)}, ${seed.toString(16)})`);
  }
});

t.test('the string path equals the byte path for ASCII and non-ASCII keys of every tail length', async (t) => {
  const keys = ['x', 'xy', 'xyz', 'wxyz', 'level0pkg2735', 'é', 'aé', 'abé', 'abcé', 'numpy→scipy', '日本語パッケージ'];
  for (const key of keys) {
    t.equal(murmur3(key, 7), murmur3Bytes(Buffer.from(key, 'utf8'), 7), key);
  }
});

t.test('returns unsigned 32-bit integers and different seeds give different hashes', async (t) => {
  let differ = 0;
  let outOfRange = 0;
  for (let i = 0; i < 1000; i++) {
    const a = murmur3(`key${i}`, 0);
    const b = murmur3(`key${i}`, 0x9747b28c);
    if (!(Number.isInteger(a) && a >= 0 && a <= 0xffffffff)) outOfRange++;
    if (a !== b) differ++;
  }
  t.equal(outOfRange, 0);
  t.equal(differ, 1000);
});

t.test('numbered labels hash as the strings they spell, for prefixes of every tail length', async (t) => {
  for (const prefix of ['', 'w', 'w1', 'w12', 'w123#', 'dead-9999#', 'héllo#', '日本#', 'http://10.0.0.1:8080#']) {
    const out = new Uint32Array(1200);
    murmur3Numbered(prefix, 0, 1000, out, 200, 0x9747b28c);
    let mismatches = 0;
    for (let i = 0; i < 1000; i++) if (out[200 + i] !== murmur3(`${prefix}${i}`, 0x9747b28c)) mismatches++;
    t.equal(mismatches, 0, `prefix "${prefix}": 1000 labels agree`);
    t.equal(out[0], 0, 'nothing written before the offset');
  }
  const far = new Uint32Array(2);
  murmur3Numbered('w#', 123_456, 123_458, far, 0);
  t.same([...far], [murmur3('w#123456'), murmur3('w#123457')], 'numbers with many digits');
});
