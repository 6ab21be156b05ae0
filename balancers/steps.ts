// Work written as steps: a generator that yields now and then, so the same code
// runs to its end at once (`finish`) or a slice at a time with the event loop
// served in between (`inSlices`).

/** Work that yields now and then and returns a T at the end. */
export type Steps<T> = Generator<void, T, void>;

/** Runs steps to the end without pausing. */
export function finish<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (r.done !== true) r = steps.next();
  return r.value;
}

/** Runs steps to the end, awaiting `pause()` at each yield; stops early (undefined) once `stale()` says the result is moot. */
export async function inSlices<T>(steps: Steps<T>, pause: () => Promise<void>): Promise<T>;
export async function inSlices<T>(steps: Steps<T>, pause: () => Promise<void>, stale: () => boolean): Promise<T | undefined>;
export async function inSlices<T>(steps: Steps<T>, pause: () => Promise<void>, stale: () => boolean = () => false): Promise<T | undefined> {
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done === true) return r.value;
    await pause();
    if (stale()) return undefined;
  }
}
