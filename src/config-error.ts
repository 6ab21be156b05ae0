/** Bad configuration, registry or package table: start-up stops with this message (exit 2); a reload keeps the running config. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** JSON text of a config-side file; malformed or too deeply nested text is a ConfigError naming `source`. */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const reason = err instanceof RangeError ? 'nested too deeply' : (err as Error).message;
    throw new ConfigError(`${source}: not valid JSON (${reason})`);
  }
}

const MAX_SHOWN = 80;

/**
 * A short, safe rendering of any value for an error message. Never serialises
 * a whole array or object: input may be nested 100,000 deep or megabytes long.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') {
    const shown = JSON.stringify(value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}...` : value);
    return value.length > MAX_SHOWN ? `${shown} (${value.length} characters)` : shown;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  return `${typeof value === 'object' ? 'an object' : `a ${typeof value}`}`;
}
