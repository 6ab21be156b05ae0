import { hash } from 'node:crypto';
import type { PointsOf } from './hash-ring.js';

// olscheduler's pkg-aware placement, rebuilt from its sources: olscheduler
// (balancer/pkgAware.go) hashes each worker's URL string onto
// github.com/lafikl/consistent at the commit its go.mod pins (bdd3606, May 2022),
// which places `replicationFactor` = 10 points per host, the point for index i
// being the hash of fmt.Sprintf("%s%d", host, i), and hashes with BLAKE2b-512
// keeping the first 8 bytes of the digest read little-endian
// (binary.LittleEndian.Uint64(out[:])). Get(key) takes the first point at or
// after hash(key), wrapping to the first point. The second candidate is
// Get(largestPkg + "salty").
//
// What pkg-aware does with ring "olscheduler", as olscheduler (pkgAware.go):
// candidates Get(key) and Get(key + "salty") (they may be one worker); the
// second wins when `load1 >= load2` (ties to the second); load is the count of
// requests the proxy has given the worker and not yet seen finish, unweighted
// (ours: in flight + queued at that worker); at `load >= loadThreshold` the
// least-loaded worker, first in worker-list order.
//
// What stays different:
// - A candidate that is down, ejected or draining is replaced by the next
//   routable worker clockwise; olscheduler has no health and would send there.
// - The fallback is taken among workers with a free connection; olscheduler
//   has no connection limits (the same choice whenever limits are equal, since
//   a full worker is then never less loaded than a free one).
// - Where workers report their in-flight count (the live-state contract), the
//   load also counts other proxies' requests there (WorkerView.external), so
//   several replicas compare the same loads; olscheduler runs as one process
//   and counts only its own.
// - A function without packages hashes its name; olscheduler answers 500.
// - olscheduler hashes Go's url.URL.String() of each config entry; we hash the
//   address as the config wrote it (the same string for "host:port" and
//   "http://host:port"; Go would re-escape unusual characters).
// - In the olscheduler pair form ["host:port", "1", ...], olscheduler's
//   pkg-aware takes every entry as a worker URL, weights included, and Go parses
//   "localhost:8080" as scheme "localhost" without a host, so that olscheduler
//   cannot proxy at all; its working pkg-aware configs list URLs (its README
//   form). For pair-form configs warmroute hashes the same "host:port" strings
//   but puts only the workers, not the weight entries, on the ring.
// - Two points with equal 64-bit hashes (never seen in practice) are ordered by
//   worker id; the library keeps the last host added.

/** Points per worker, whatever its weight (the library's `replicationFactor`). */
export const OLSCHEDULER_POINTS_PER_WORKER = 10;

/** Appended to the routing key for the second candidate (pkgAware.go's `salt`). */
export const OLSCHEDULER_SALT = 'salty';

/**
 * The BLAKE2b-512 digest of the UTF-8 string, as a 'binary' (latin1) string,
 * one char per byte, rather than a Buffer: a Buffer per hash is an
 * ArrayBuffer allocation, which made a 10,000-worker ring's 100,000 hashes
 * more than twice as slow (results/bench-picks/ring-digest/).
 */
function blake2bDigest(text: string): string {
  return hash('blake2b512', text, 'binary');
}

/** Little-endian 32-bit number from 4 chars of a 'binary' digest, from `at`. */
function word(digest: string, at: number): number {
  return (digest.charCodeAt(at) | (digest.charCodeAt(at + 1) << 8) | (digest.charCodeAt(at + 2) << 16) | (digest.charCodeAt(at + 3) << 24)) >>> 0;
}

/** BLAKE2b-512 of the UTF-8 string, the first 8 digest bytes as a little-endian 64-bit number, as [hi, lo] 32-bit halves. */
export function blake2bPosition(text: string): [hi: number, lo: number] {
  const digest = blake2bDigest(text);
  return [word(digest, 4), word(digest, 0)];
}

/** The same position as one unsigned 64-bit integer, for tests and tools that show it. */
export function blake2bPosition64(text: string): bigint {
  const [hi, lo] = blake2bPosition(text);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** olscheduler's ring points for a worker: 10, at the hashes of `url + "0"` ... `url + "9"`. */
export const olschedulerPoints: PointsOf = (worker, emit) => {
  for (let i = 0; i < OLSCHEDULER_POINTS_PER_WORKER; i++) {
    const digest = blake2bDigest(`${worker.url}${i}`);
    emit(word(digest, 4), word(digest, 0));
  }
};
