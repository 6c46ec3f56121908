// Waiting in a test for something that happens in its own time (a worker replaced, a NOTIFY heard, an undo landed):
// polled, with a bound, so that a test that waits for what never comes fails with "not within" rather than at the
// runner's timeout.

/**
 * Polls `probe` every `everyMs` until it gives something other than undefined or false (an error counts as not yet),
 * and gives that value and the milliseconds it took; fails after `ms`.
 */
export async function within<T>(
  ms: number,
  probe: () => T | Promise<T>,
  everyMs = 25,
): Promise<{ value: Exclude<T, undefined | false>; after: number }> {
  const start = Date.now();
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value !== undefined && value !== false)
      return { value: value as Exclude<T, undefined | false>, after: Date.now() - start };
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until `probe` answers true (an error counts as false), trying every 25 ms; fails after `ms`. */
export async function until(ms: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  await within(ms, probe);
}
