// How many threads the data plane uses (issue #14, docs/threads.md): `--threads N` or BUNWG_THREADS=N, N counting
// the JavaScript thread, so 1 is the single-threaded path and N > 1 adds N − 1 worker threads (zig/src/pool.zig).
import { availableParallelism } from "node:os";

export const THREADS_ENV = "BUNWG_THREADS";
export const MAX_THREADS = 33; // the JS thread + pool.zig's MAX_WORKERS

/** The default: one thread per core this process may run on (its CPU affinity), at most 8 — beyond that the JS
 *  thread that feeds the workers is the limit (bench/RESULTS.md, "Threads"). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** Parses a thread count given by `what` (e.g. "--threads", "BUNWG_THREADS"). */
export function parseThreads(text: string, what: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new RangeError(`${what}: expected a thread count from 1 to ${MAX_THREADS} (1 = no worker threads), got "${text}"`);
  }
  return n;
}
