// Types of hash-wasm's BLAKE2b-only bundle, which the package does not declare (its index's types cover it).
declare module 'hash-wasm/dist/blake2b.umd.min.js' {
  import type { IHasher } from 'hash-wasm';

  const blake2b: { createBLAKE2b(bits?: number): Promise<IHasher> };
  export default blake2b;
}
