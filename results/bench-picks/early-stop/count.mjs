// Counts, in the bench's kind of stream (../bench-stream.mjs) at 1,000 workers, 100,000 picks after the
// warm-up, how often cost-aware read a candidate's holdings from the record's tables (its memo out of date),
// how many package readings that took, and (the build with the early stop) how many of those readings
// stopped at the bound. The counting wraps the build's own methods; the picks are unchanged.
// usage: node count.mjs ROOT   (ROOT: a checkout built with npx tsc -p tsconfig.json)
import { benchStream } from '../bench-stream.mjs';

const root = process.argv[2];
const { CostModel } = await import(`${root}/dist/balancers/cost-aware.js`);
const { HeldPackages } = await import(`${root}/dist/balancers/held-packages.js`);
const count = { stale: 0, readings: 0, stopped: 0 };
const missMs = CostModel.prototype.missMs;
CostModel.prototype.missMs = function (plan, memo, r, ...rest) {
  const stale = !plan.memos.fresh(memo, r);
  const miss = missMs.call(this, plan, memo, r, ...rest);
  if (stale) {
    count.stale++;
    if (!plan.memos.fresh(memo, r)) count.stopped++;
  }
  return miss;
};
if ('fill' in HeldPackages.prototype) {
  // The early stop: a package at a time.
  const fill = HeldPackages.prototype.fill;
  HeldPackages.prototype.fill = function (...args) {
    count.readings++;
    return fill.apply(this, args);
  };
} else {
  // Before: every package of an out-of-date memo.
  const bringUp = HeldPackages.prototype.bringUp;
  HeldPackages.prototype.bringUp = function (memos, j, packages, r, now) {
    this.current(r, now);
    if (!memos.fresh(j, r)) count.readings += packages.length;
    return bringUp.call(this, memos, j, packages, r, now);
  };
}
const s = await benchStream(root, 1000, 'cost-aware');
s.route(200 * 1000);
Object.assign(count, { stale: 0, readings: 0, stopped: 0 });
s.route(100_000);
console.log(`${root}: per 100,000 picks, memos read from the tables ${count.stale}, package readings ${count.readings}, readings stopped at the bound ${count.stopped}; picks hash ${s.hash}`);
