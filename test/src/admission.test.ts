// Admission control on its own: slots, FIFO order, limits, timeouts, cancellation, capacity changes.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Admission, type Rejection } from '../../src/admission.js';

/** A task that holds its slot until released from the test. */
function held(log: string[], name: string): { task: () => Promise<void>; release: () => void } {
  let release = (): void => {};
  const done = new Promise<void>((resolve) => { release = resolve; });
  return { task: () => { log.push(name); return done; }, release: () => release() };
}

t.test('runs at once while slots are free, then queues in FIFO order', async (t) => {
  const a = new Admission(10, 10_000, 2);
  const log: string[] = [];
  const tasks = ['a', 'b', 'c', 'd', 'e'].map((n) => held(log, n));
  const handles = tasks.map((x) => a.admit(x.task, () => t.fail('no rejection expected')));
  t.same(log, ['a', 'b']);
  t.same(handles.map((h) => h !== undefined), [false, false, true, true, true], 'only the queued get a handle');
  t.equal(a.active, 2);
  t.equal(a.waiting, 3);
  tasks[1]!.release();
  await sleep(0);
  t.same(log, ['a', 'b', 'c'], 'the oldest waiter goes first');
  tasks[0]!.release();
  tasks[2]!.release();
  await sleep(0);
  t.same(log, ['a', 'b', 'c', 'd', 'e']);
  t.equal(a.waiting, 0);
  tasks[3]!.release();
  tasks[4]!.release();
  await sleep(0);
  t.equal(a.active, 0);
});

t.test('a full queue rejects at once', async (t) => {
  const a = new Admission(1, 10_000, 1);
  const log: string[] = [];
  const first = held(log, '1');
  a.admit(first.task, () => {});
  a.admit(held(log, '2').task, () => {});
  const reasons: Rejection[] = [];
  t.equal(a.admit(held(log, '3').task, (r) => reasons.push(r)), undefined);
  t.same(reasons, ['queue_full']);
  first.release();
});

t.test('waiters time out in order, each once, and late ones still run', async (t) => {
  const a = new Admission(10, 60, 1);
  const log: string[] = [];
  const first = held(log, 'first');
  a.admit(first.task, () => {});
  const reasons: string[] = [];
  a.admit(held(log, 'x').task, (r) => reasons.push(`x:${r}`));
  a.admit(held(log, 'y').task, (r) => reasons.push(`y:${r}`));
  await sleep(30);
  const late = held(log, 'z');
  a.admit(late.task, (r) => reasons.push(`z:${r}`));
  await sleep(45);
  t.same(reasons, ['x:queue_timeout', 'y:queue_timeout'], 'the first two expired; z has time left');
  t.equal(a.waiting, 1);
  first.release();
  await sleep(0);
  t.same(log, ['first', 'z'], 'z ran when the slot came free');
  await sleep(60);
  t.same(reasons, ['x:queue_timeout', 'y:queue_timeout'], 'a started task never times out');
  late.release();
});

t.test('cancel takes a waiter out; a started task ignores cancel', async (t) => {
  const a = new Admission(10, 10_000, 1);
  const log: string[] = [];
  const first = held(log, 'first');
  a.admit(first.task, () => {});
  const reasons: string[] = [];
  const w = a.admit(held(log, 'gone').task, (r) => reasons.push(r))!;
  const next = held(log, 'next');
  const w2 = a.admit(next.task, (r) => reasons.push(r))!;
  w.cancel();
  w.cancel();
  t.same(reasons, ['cancelled'], 'told once');
  t.equal(a.waiting, 1);
  first.release();
  await sleep(0);
  t.same(log, ['first', 'next'], 'the cancelled one never ran');
  w2.cancel();
  t.same(reasons, ['cancelled'], 'cancel after start does nothing');
  t.equal(a.active, 1);
  next.release();
});

t.test('capacity follows the worker table', async (t) => {
  const a = new Admission(10, 10_000, 0);
  const log: string[] = [];
  const x = held(log, 'x');
  const y = held(log, 'y');
  a.admit(x.task, () => {});
  a.admit(y.task, () => {});
  t.same(log, [], 'no slots, all wait');
  a.setCapacity(2);
  t.same(log, ['x', 'y'], 'new slots start waiters');
  a.setCapacity(1);
  const z = held(log, 'z');
  a.admit(z.task, () => {});
  x.release();
  await sleep(0);
  t.same(log, ['x', 'y'], 'still one over the smaller capacity');
  y.release();
  await sleep(0);
  t.same(log, ['x', 'y', 'z']);
  z.release();
});
