import type { PolicySetting } from './types.js';

/** A number from the config file, an environment variable ("3") or a flag. */
function asNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return Number.NaN;
}

/** A setting whose value is a number in [min, max] (`min` excluded when `minExclusive`). */
export function numberSetting(key: string, doc: string, defaultValue: number, min: number, max: number, minExclusive: boolean): PolicySetting {
  const allowed = `${minExclusive ? `a number greater than ${min}` : `a number from ${min}`} ${minExclusive ? 'and at most' : 'to'} ${max}`;
  return {
    key,
    doc,
    default: defaultValue,
    parse(value: unknown): number {
      const n = asNumber(value);
      if (!Number.isFinite(n) || (minExclusive ? n <= min : n < min) || n > max) throw new Error(`${key} must be ${allowed}, got ${JSON.stringify(value)}`);
      return n;
    },
  };
}

/** `loadThreshold: "auto"`: the threshold follows each worker's observed capacity (see package-aware.ts). */
export const AUTO_THRESHOLD = 'auto';

const numericThreshold = numberSetting('loadThreshold', '', 3, 0, 1e6, true);

/** Read by pkg-aware and pkg-aware-ring: the load at which a function leaves its home worker. */
export const loadThresholdSetting: PolicySetting = {
  key: 'loadThreshold',
  doc: 'pkg-aware, pkg-aware-ring: requests in flight or queued (per unit of weight; plain count with ring "olscheduler"; other proxies\' requests count where the worker reports its in-flight) at which a function leaves its home worker; "auto": the function stays home while its warm work, stretched by the load there, costs no more than a cold start on an idle worker with the same cores (learned online; see balancers/README.md), from 1 to the worker\'s connection limit.',
  default: 3,
  parse(value: unknown): number | string {
    if (value === AUTO_THRESHOLD) return AUTO_THRESHOLD;
    try {
      return numericThreshold.parse(value) as number;
    } catch {
      throw new Error(`loadThreshold must be a number greater than 0 and at most 1000000, or "auto", got ${JSON.stringify(value)}`);
    }
  },
};

export type RingKind = 'murmur3' | 'olscheduler';
const ringKinds: readonly RingKind[] = ['murmur3', 'olscheduler'];

/** Read by pkg-aware and pkg-aware-ring: which consistent-hash ring places the functions. */
export const ringSetting: PolicySetting = {
  key: 'ring',
  doc: 'pkg-aware, pkg-aware-ring: "murmur3" (100 points per unit of weight, hashed by worker id) or "olscheduler" (olscheduler\'s own placement: 10 BLAKE2b points per worker URL, so a migration keeps its warm caches).',
  default: 'murmur3',
  parse(value: unknown): RingKind {
    const kind = ringKinds.find((k) => k === value);
    if (kind === undefined) throw new Error(`ring must be one of ${ringKinds.map((k) => `"${k}"`).join(', ')}, got ${JSON.stringify(value)}`);
    return kind;
  },
};

/** The parsed value of `setting` from a policy's settings, its default when absent. */
export function settingValue(setting: PolicySetting, settings: Readonly<Record<string, unknown>>): number | string | boolean {
  return setting.parse(settings[setting.key] ?? setting.default);
}
