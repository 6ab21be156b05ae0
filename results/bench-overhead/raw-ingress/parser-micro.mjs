// One request head (as autocannon sends bench:overhead's) parsed N times by the
// fast path's RequestHead and by Node's own llhttp binding (the parser node:http
// uses), alternating rounds in one process. `node results/bench-overhead/raw-ingress/parser-micro.mjs`
// after `npx tsc -p tsconfig.json`, from the repository root.
import { createRequire } from 'node:module';
import { RequestHead } from '../../../dist/src/request-head.js';

const { HTTPParser } = createRequire(import.meta.url)('_http_common');
const head = Buffer.from('POST /runLambda/fn HTTP/1.1\r\nhost: 127.0.0.1:9000\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{"input":{"n":1}}', 'latin1');
const N = 200_000;
let sink = 0;

function fast() {
  const h = new RequestHead();
  for (let i = 0; i < N; i++) {
    h.reset();
    h.parse(head, 0);
    sink += h.contentLength + h.raw.length;
  }
}

function llhttp() {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 16 * 1024, 0);
  p[HTTPParser.kOnHeadersComplete] = (_a, _b, headers, _m, url) => { sink += headers.length + url.length; return 0; };
  p[HTTPParser.kOnHeaders] = () => undefined;
  p[HTTPParser.kOnBody] = (b) => { sink += b.length; };
  p[HTTPParser.kOnMessageComplete] = () => undefined;
  p[HTTPParser.kOnExecute] = () => undefined;
  // One message after another on one parser, as on a kept-alive connection.
  for (let i = 0; i < N; i++) p.execute(head);
}

const times = { fast: [], llhttp: [] };
for (let round = 0; round < 8; round++) {
  for (const [name, fn] of [['fast', fast], ['llhttp', llhttp]]) {
    // CPU time given to this process (not wall time: the machine is shared).
    const t0 = process.cpuUsage();
    fn();
    const used = process.cpuUsage(t0);
    times[name].push(((used.user + used.system) * 1000) / N);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`ns of CPU per head, median of 8 alternating rounds of ${N}: RequestHead ${median(times.fast).toFixed(0)}, llhttp binding ${median(times.llhttp).toFixed(0)} (rounds: ${times.fast.map((x) => x.toFixed(0)).join(' ')} / ${times.llhttp.map((x) => x.toFixed(0)).join(' ')}) ${sink > 0 ? '' : '-'}`);
