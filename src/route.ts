// The invocation routes, parsed in one place for the server, the registry and the fuzz tests.

/** Longest function name, in characters. */
export const MAX_FUNCTION_NAME = 255;
const NAME_CHARACTERS = /^[A-Za-z0-9_.-]+$/;

/**
 * A function name as registries and routes accept it: letters, digits, `_`,
 * `.`, `-`, at most MAX_FUNCTION_NAME characters, and never `.` or `..`
 * (which a worker's router would read as a path step).
 */
export function isFunctionName(name: string): boolean {
  return name.length <= MAX_FUNCTION_NAME && NAME_CHARACTERS.test(name) && name !== '.' && name !== '..';
}

export type InvokeRoute =
  | { readonly ok: true; readonly name: string; /** `?...` as received, or empty. */ readonly query: string }
  | { readonly ok: false; readonly message: string };

const PREFIXES = ['/runLambda', '/run'] as const;

/**
 * Parses a request target of the invocation routes, `/runLambda/<name>`
 * (olscheduler) and `/run/<name>` (OpenLambda), with an optional query.
 * Returns undefined for any other path (not an invocation), `ok: false` with
 * a message for a malformed one (answer 400).
 *
 * Percent-encoding is refused rather than decoded: a valid name never needs
 * it, and decoding would let `%2e%2e` through as `..`.
 */
export function parseFunctionName(target: string): InvokeRoute | undefined {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  const prefix = PREFIXES.find((p) => path === p || path.startsWith(`${p}/`));
  if (prefix === undefined) return undefined;
  const name = path.slice(prefix.length + 1);
  if (path === prefix || name === '') return { ok: false, message: `${prefix}/ needs a function name` };
  if (name.includes('/')) return { ok: false, message: `function name "${shorten(name)}" has a "/"; the route is ${prefix}/<name>` };
  if (name.includes('%')) return { ok: false, message: `function name "${shorten(name)}" is percent-encoded; names are plain letters, digits, "_", "." and "-"` };
  if (name === '.' || name === '..') return { ok: false, message: `"${name}" is not a function name` };
  if (target.includes('#')) return { ok: false, message: 'a request target has no fragment' };
  if (!isFunctionName(name)) {
    return { ok: false, message: `function name "${shorten(name)}" is not valid: 1 to ${MAX_FUNCTION_NAME} letters, digits, "_", "." and "-"` };
  }
  return { ok: true, name, query };
}

/** Names in messages stay short and printable, whatever the client sent. */
function shorten(name: string): string {
  const printable = name.replace(/[^\x20-\x7e]/g, '?').replace(/"/g, '\\"');
  return printable.length > 64 ? `${printable.slice(0, 64)}...` : printable;
}
