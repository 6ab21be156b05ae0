// What a V8 heap snapshot holds, summed by kind of object: for the benchmarks that explain memory.

import { readFile } from 'node:fs/promises';

export interface Kind { kind: string; count: number; MiB: number }

/** Self sizes in a V8 heap snapshot file, summed by constructor (strings, code and arrays each as one kind), largest first. */
export async function snapshotKinds(file: string): Promise<Kind[]> {
  const snapshot = JSON.parse(await readFile(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const kinds = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const t = types[snapshot.nodes[i + type]!]!;
    const kind = t.includes('string') ? '(strings)' : t === 'code' ? '(compiled code)' : t === 'array' ? '(arrays: Map, Set and object backing stores)' : t === 'native' ? `(native) ${snapshot.strings[snapshot.nodes[i + name]!]}` : snapshot.strings[snapshot.nodes[i + name]!]!;
    const entry = kinds.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + size]!;
    kinds.set(kind, entry);
  }
  return [...kinds].map(([kind, { count, bytes }]) => ({ kind, count, MiB: Math.round((bytes / 2 ** 20) * 100) / 100 })).sort((a, b) => b.MiB - a.MiB);
}
