// The CAs the proxy trusts for https workers (`workerCaFile`): read and checked
// once per config load or reload, then one TLS context shared by every worker
// connection and every status poll, so that no connection parses certificates.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import { ConfigError } from './config-error.js';

export interface WorkerCa {
  /** The bundle's PEM text as read; '' without a bundle. A reload compares it to tell whether the CAs changed. */
  readonly pem: string;
  /** The context https workers are verified with: Node's bundled CAs and the bundle's; undefined: Node's default CAs. */
  readonly context: SecureContext | undefined;
}

/** Without `workerCaFile`: Node's default CAs. */
export const defaultWorkerCa: WorkerCa = { pem: '', context: undefined };

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/** Reads the bundle at `path` ('' = none); throws ConfigError naming the key, the path and the problem. */
export async function readWorkerCa(path: string): Promise<WorkerCa> {
  if (path === '') return defaultWorkerCa;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`workerCaFile: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return workerCaOf(pem, path);
}

/**
 * The context for a bundle's text (`path` names it in messages). Every
 * certificate block must parse; text around them (comments, as in system
 * bundles) is ignored. `ca` replaces Node's CAs rather than adding to them,
 * so the bundled ones are passed along with the bundle's.
 */
export function workerCaOf(pem: string, path: string): WorkerCa {
  if (pem === '') return defaultWorkerCa;
  const blocks = pem.match(CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(`workerCaFile: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)`);
  // Loaded only when a bundle is configured: tls costs every process memory otherwise.
  const require = createRequire(import.meta.url);
  const { X509Certificate } = require('node:crypto') as typeof import('node:crypto');
  const tls = require('node:tls') as typeof import('node:tls');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new ConfigError(`workerCaFile: ${path}: certificate ${i + 1} of ${blocks.length} is not a valid certificate (${(err as Error).message})`);
    }
  });
  return { pem, context: tls.createSecureContext({ ca: [...tls.rootCertificates, ...blocks] }) };
}
