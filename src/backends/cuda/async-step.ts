/**
 * Waiting for the GPU without blocking Node's event loop, and the CUDA-graph mode switch.
 *
 * The wait polls `cuEventQuery` (about a microsecond, never blocks) once per event-loop turn via
 * setImmediate: timers and I/O still run between polls, and the step's completion is seen within
 * one turn (microseconds), where a blocking-sync event waited on in a worker thread would add a
 * thread hop and a message post (tens of microseconds) to every step. The cost is one busy core
 * while the GPU runs; after `spinMs` (100 ms: longer than any decode step) of polling the waits back
 * off to 1 ms timers, so a very long step (a big prefill) does not hold a core for its whole length.
 */

/** What a completion check needs: `query()` is true once the recorded work is done. */
export interface Queryable {
  query(): boolean;
}

/**
 * Resolves once `event.query()` is true; rejects with its error. `onPolls(n)` gets the number of
 * queries made (for the context's timing). Spins on setImmediate for `spinMs`, then polls every 1 ms.
 */
export function waitForEvent(event: Queryable, onPolls?: (n: number) => void, spinMs = 100): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t0 = performance.now();
    let polls = 0;
    const poll = (): void => {
      let ready: boolean;
      try {
        polls++;
        ready = event.query();
      } catch (e) {
        onPolls?.(polls);
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (ready) {
        onPolls?.(polls);
        resolve();
      } else if (performance.now() - t0 < spinMs) setImmediate(poll);
      else setTimeout(poll, 1);
    };
    poll();
  });
}

export type GraphMode = 'load' | 'lazy' | false;

/** The CUDA-graph mode from the option (true = 'load') and KILN_CUDA_GRAPHS ('0' off, 'lazy', 'load'). */
export function graphMode(option: boolean | 'load' | 'lazy' | undefined, env: string | undefined): GraphMode {
  if (env === '0') return false;
  if (env === 'lazy' || env === 'load') return env;
  if (option === undefined || option === true) return 'load';
  return option;
}
