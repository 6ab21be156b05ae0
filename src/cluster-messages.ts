// The IPC messages between a primary and its serving processes (`processes` above 1).
// Every change of what the proxy routes on (table changes, configurations) carries
// the next sequence number, so a process applies them in the primary's order and
// notices a gap; a process that starts first receives the whole picture.
import type { Observation } from '../balancers/evidence.js';
import type { LambdaInfo } from '../balancers/types.js';
import type { AdminAnswer, AdminRequest } from './admin.js';
import type { ProxyConfig } from './config.js';
import type { SlotMessage } from './slot-ledger.js';
import type { ProcessStatus } from './status.js';
import type { TableChange, WorkerSnapshot } from './table-sync.js';

/** The configuration in force with what it names: the registry as the primary read it, the package table's text. */
export interface Picture {
  readonly config: ProxyConfig;
  readonly registryPath: string;
  /** null: an open registry (every name known, no packages). */
  readonly functions: readonly LambdaInfo[] | null;
  /** The package table as JSON entries; empty: none. */
  readonly packagesText: string;
  /** The worker CA bundle's PEM text as the primary read and checked it; empty: none. */
  readonly workerCaPem: string;
}

/** What the primary answers a process's question with. */
export type Reply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

export type ToProcess =
  /** The first message: this process's place among `count`, the picture and the table as of change `seq`. */
  | { readonly wr: 'start'; readonly index: number; readonly count: number; readonly seq: number; readonly picture: Picture; readonly workers: readonly WorkerSnapshot[] }
  | { readonly wr: 'change'; readonly seq: number; readonly change: TableChange }
  | { readonly wr: 'config'; readonly seq: number; readonly picture: Picture }
  /** The primary collects /status: this process's own part. */
  | { readonly wr: 'status'; readonly ask: number; readonly verbose: boolean }
  | { readonly wr: 'reply'; readonly ask: number; readonly reply: Reply }
  /** Graceful shutdown. */
  | { readonly wr: 'stop' }
  /** A client's connection, unread, comes with this message: the process says it `took` it, then serves it. */
  | { readonly wr: 'conn'; readonly id: number }
  /** What a process's policy observed (this one's too), for every process's to learn from in one order (not numbered: it changes no picture). */
  | { readonly wr: 'learned'; readonly from: number; readonly observations: readonly Observation[] }
  /** Connections of a worker granted, or a request to lend them (not numbered: they change no picture). */
  | SlotMessage;

/** What a process asks the primary, which owns the control plane and sees every process. */
export type Question =
  | { readonly what: 'admin'; readonly request: AdminRequest }
  | { readonly what: 'status'; readonly verbose: boolean }
  | { readonly what: 'metrics' };

export type ToPrimary =
  /** Listening for messages: the primary sends `start`. */
  | { readonly wr: 'hello' }
  /** It serves: the primary gives it connections from now on. */
  | { readonly wr: 'ready' }
  /** It has connection `id` (see ConnectionHandoff): the primary closes its copy. */
  | { readonly wr: 'took'; readonly id: number }
  /** It cannot serve (e.g. the port is taken): the primary exits with `exitCode` and the message. */
  | { readonly wr: 'failed'; readonly message: string; readonly exitCode: number }
  /** Its own request saw the worker fail: every process ejects it. */
  | { readonly wr: 'ejected'; readonly id: string; readonly reason: string }
  /** A change arrived out of order: the process is replaced by one started from a fresh picture. */
  | { readonly wr: 'gap'; readonly expected: number; readonly got: number }
  | { readonly wr: 'ask'; readonly ask: number; readonly question: Question }
  | { readonly wr: 'status'; readonly ask: number; readonly status: ProcessStatus }
  | { readonly wr: 'stopped'; readonly cut: number }
  /** `count` requests wait for the worker that the process cannot place (0: none any more). */
  | { readonly wr: 'want'; readonly id: string; readonly count: number }
  /** The process lowered its limit of the worker by `count` free connections, having applied changes up to `seq`. */
  | { readonly wr: 'handBack'; readonly id: string; readonly count: number; readonly seq: number }
  /** A batch of what the process's policy observed: the primary relays it to every process, this one included. */
  | { readonly wr: 'learned'; readonly observations: readonly Observation[] };

export type { AdminAnswer };

/** Messages of ours carry `wr` (prom-client's aggregation shares the channel with `type`). */
export function isOurs<T extends { wr: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { wr?: unknown }).wr === 'string';
}
