// node:crypto's one-shot BLAKE2b-512 of the olscheduler ring's 100,000 point strings at 10,000 workers, with the
// digest returned as a Buffer, as a 'binary' (latin1) string and as hex, and the first 4 bytes read as a
// little-endian number from each (the check column must agree for buffer and binary); two passes of each, in
// one process, wall time.
// usage: node results/bench-picks/ring-digest/digest-encodings.mjs
import { hash } from 'node:crypto';

const texts = Array.from({ length: 100_000 }, (_, i) => `http://10.0.${((i / 10) | 0) >> 8}.${((i / 10) | 0) & 255}:8080${i % 10}`);
for (const encoding of ['buffer', 'binary', 'hex', 'buffer', 'binary', 'hex']) {
  const start = process.hrtime.bigint();
  let check = 0;
  for (const text of texts) {
    const d = hash('blake2b512', text, encoding);
    if (encoding === 'buffer') check ^= d.readUInt32LE(0);
    else if (encoding === 'binary') check ^= d.charCodeAt(0) | (d.charCodeAt(1) << 8) | (d.charCodeAt(2) << 16) | (d.charCodeAt(3) << 24);
    else check ^= Number.parseInt(d.slice(6, 8) + d.slice(4, 6) + d.slice(2, 4) + d.slice(0, 2), 16) | 0;
  }
  console.log(`${encoding.padEnd(6)} ${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(0).padStart(5)} ms for 100,000 hashes (check ${check})`);
}
