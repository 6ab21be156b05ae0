// The bench's request stream (../bench-stream.mjs) through cost-aware, for counting instructions: a warm-up of 50
// requests per worker, then N more. Prints the picks' hash, so two builds can be checked for the same picks.
//
// usage: node stream.mjs ROOT WORKERS N   (ROOT: a checkout built with npx tsc -p tsconfig.json)
import { benchStream } from '../bench-stream.mjs';

const [root, workers, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
if (root === undefined || !Number.isInteger(workers) || workers < 1 || !Number.isInteger(n) || n < 1) {
  process.stderr.write('usage: node stream.mjs ROOT WORKERS N (whole numbers above 0)\n');
  process.exit(2);
}
const stream = await benchStream(root, workers, 'cost-aware');
stream.route(50 * workers);
stream.route(n);
console.log(`picks hash ${stream.hash}`);
