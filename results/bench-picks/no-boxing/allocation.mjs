// Bytes a cost-aware pick allocates, in the bench's seeded stream at 1,000 workers (../bench-stream.mjs): after the bench's warm-up (200 requests per worker), V8's sampling
// heap profiler, told to keep objects that minor and major GCs collected, records 200,000 routed requests;
// the bytes sampled in frames under the policy's pick, per pick. Sampling: one sample per 256 bytes.
//
// usage: ROOT=DIR node allocation.mjs   (DIR: a checkout built with npx tsc -p tsconfig.json)
import { Session } from 'node:inspector/promises';
import { benchStream } from '../bench-stream.mjs';

const root = process.env.ROOT;
if (root === undefined || root === '') {
  process.stderr.write('allocation.mjs: set ROOT to the checkout to measure (built into its dist/)\n');
  process.exit(2);
}
const size = 1000;
const { route } = await benchStream(root, size);
route(200 * size);
const requests = 200_000;
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
route(requests);
const { profile } = await session.post('HeapProfiler.stopSampling');
let underPick = 0;
let all = 0;
const byFrame = new Map();
(function walk(node, inPick, path) {
  const name = node.callFrame.functionName;
  const here = inPick || name === 'pick';
  const label = here ? `${path} > ${name}` : '';
  all += node.selfSize;
  if (here) {
    underPick += node.selfSize;
    if (node.selfSize > 0) byFrame.set(label, (byFrame.get(label) ?? 0) + node.selfSize);
  }
  for (const child of node.children) walk(child, here, here ? label : '');
})(profile.head, false, '');
console.log(`${root}: ${(underPick / requests).toFixed(0)} bytes per pick (of ${(all / requests).toFixed(0)} bytes per routed request)`);
for (const [frame, bytes] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  ${(bytes / requests).toFixed(0).padStart(4)} B  ${frame.replace(/^ > /, '')}`);
