// Routes the bench's kind of stream (../bench-stream.mjs) for one build: the warm-up (200 requests per worker),
// then N more; instructions.sh runs it under callgrind for N and 2N and takes the difference.
// usage: node instructions.mjs ROOT WORKERS N
import { benchStream } from '../bench-stream.mjs';

const [root, size, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const s = await benchStream(root, size, 'cost-aware');
s.route(200 * size);
s.route(n);
console.log(`picks hash ${s.hash}`);
