// MurmurHash3 x86 32-bit over the UTF-8 bytes of a string.
// Chosen over FNV because FNV spreads near-identical labels ("w1#0", "w1#1", ...)
// poorly over 32 bits, which skews consistent-hash rings; murmur3 is well mixed
// and its outputs match every other murmur3 implementation, so they can be checked.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function scrambleBlock(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixBlock(h: number, k: number): number {
  h ^= scrambleBlock(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, byteLength: number): number {
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** murmur3 x86_32 of raw bytes; returns an unsigned 32-bit integer. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  const length = bytes.length;
  const blocksEnd = length & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = bytes[i];
    if (tail > 1) k |= bytes[i + 1] << 8;
    if (tail > 2) k |= bytes[i + 2] << 16;
    h ^= scrambleBlock(k);
  }
  return finalize(h, length);
}

/**
 * murmur3 x86_32 of a string's UTF-8 encoding; returns an unsigned 32-bit integer.
 * ASCII strings (package names, worker ids) are hashed straight from their char
 * codes so a pick allocates nothing; other strings are encoded first.
 */
export function murmur3(key: string, seed = 0): number {
  const length = key.length;
  const blocksEnd = length & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    const a = key.charCodeAt(i);
    const b = key.charCodeAt(i + 1);
    const c = key.charCodeAt(i + 2);
    const d = key.charCodeAt(i + 3);
    if ((a | b | c | d) > 0x7f) return murmur3Bytes(Buffer.from(key, 'utf8'), seed);
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = 0;
    for (let t = tail - 1; t >= 0; t--) {
      const code = key.charCodeAt(i + t);
      if (code > 0x7f) return murmur3Bytes(Buffer.from(key, 'utf8'), seed);
      k |= code << (8 * t);
    }
    h ^= scrambleBlock(k);
  }
  return finalize(h, length);
}

/** Decimal digits of a non-negative integer, written into `out` most significant first; returns how many. */
function decimalDigits(n: number, out: Uint8Array): number {
  const count = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : String(n).length;
  for (let i = count - 1; i >= 0; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return count;
}

const digitScratch = new Uint8Array(16);

/**
 * murmur3 x86_32 of `${prefix}${i}` for every integer i in [from, to), written
 * to `out` from `at`: the same values as murmur3 of each string, but the
 * prefix's bytes are mixed once rather than once per label (a ring places a
 * worker's hundred points at `id#0` ... `id#99`).
 */
export function murmur3Numbered(prefix: string, from: number, to: number, out: Uint32Array, at: number, seed = 0): void {
  const bytes = Buffer.from(prefix, 'utf8');
  const length = bytes.length;
  const blocksEnd = length & ~3;
  let h = seed | 0;
  for (let i = 0; i < blocksEnd; i += 4) {
    h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  // The prefix's last 0-3 bytes open the block its number continues.
  const carried = length - blocksEnd;
  let carry = 0;
  for (let t = 0; t < carried; t++) carry |= bytes[blocksEnd + t] << (8 * t);
  for (let n = from; n < to; n++) {
    const digits = decimalDigits(n, digitScratch);
    let hn = h;
    let k = carry;
    let filled = carried;
    for (let d = 0; d < digits; d++) {
      k |= digitScratch[d] << (8 * filled);
      if (++filled === 4) {
        hn = mixBlock(hn, k);
        k = 0;
        filled = 0;
      }
    }
    if (filled > 0) hn ^= scrambleBlock(k);
    out[at++] = finalize(hn, length + digits);
  }
}
