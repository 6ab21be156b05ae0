// Loaded into the proxy by `npm run soak -- --heap-probe` (node --expose-gc --import this file): every
// HEAP_PROBE_MS (default 30 s) a full collection, then the heap and RSS that are left, one JSON
// line appended to HEAP_PROBE_FILE. What is left after a full collection is what the proxy
// holds on to; a leak makes it grow, while V8 sizing its heap (which moves RSS) does not. The collections
// change the RSS of the run they are in, so a probed run is a diagnosis, not the soak's RSS figure.

import { appendFileSync } from 'node:fs';

const file = process.env.HEAP_PROBE_FILE;
const every = Number(process.env.HEAP_PROBE_MS ?? 30_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (file !== undefined && file !== '' && gc !== undefined && every > 0) {
  const t0 = Date.now();
  const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
  setInterval(() => {
    gc();
    const m = process.memoryUsage();
    appendFileSync(file, `${JSON.stringify({ sec: Math.round((Date.now() - t0) / 1000), rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) })}\n`);
  }, every).unref();
}
