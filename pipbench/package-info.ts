// What pipbench knows of a package (sizes, costs, place in the dependency
// graph) and the olscheduler registry entry that names a handler's packages:
// the vocabulary generate/ writes and workload.ts reads, kept apart so that
// neither imports the other for it.

export interface PackageInfo {
  name: string;
  /** Dependency level: 0 has no dependencies; level k depends only on lower levels. */
  level: number;
  /** Direct dependencies (names). Empty for packages filled in for an existing registry. */
  deps: string[];
  /** Zipf weight 1/rank of the package's popularity rank (1 = most popular; 1 when unknown). */
  popularity: number;
  /** Size of the package archive. */
  compressedBytes: number;
  /** Size once installed (uncompressed); what a worker's package cache holds. */
  bytes: number;
  /** Wall time of installing the package, at time scale 1. */
  installMs: number;
  /** Time of importing the package into a fresh interpreter, at time scale 1. */
  importMs: number;
  /** Memory the import adds to the interpreter, in bytes. */
  importMem: number;
}

/** One entry of an olscheduler registry file. */
export interface RegistryEntry {
  handle: string;
  pkgs: string[];
}
