// How many threads the data plane uses (issue #14, docs/threads.md): `--threads N` or BUNWG_THREADS=N, N counting
// the JavaScript thread, so 1 is the single-threaded path and N > 1 adds N − 1 worker threads (zig/src/pool.zig).
import { availableParallelism } from "node:os";

export const THREADS_ENV = "BUNWG_THREADS";
export const MAX_THREADS = 33; // the JS thread + pool.zig's MAX_WORKERS

/** The default: one thread per core this process may run on (its CPU affinity), at most 8 — except on one or two
 *  cores, where it is 1: there the workers share the cores with the JavaScript thread and the kernel's own packet
 *  work, and handing batches between threads cost more than it gave (bench/RESULTS.md, "Threads": single-stream
 *  TCP and CPU per byte both worse with 2 threads than with 1 on the 2-core test machine). */
export function defaultThreads(cores = availableParallelism()): number {
  return cores <= 2 ? 1 : Math.min(8, cores);
}

/** Parses a thread count given by `what` (e.g. "--threads", "BUNWG_THREADS"). */
export function parseThreads(text: string, what: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new RangeError(`${what}: expected a thread count from 1 to ${MAX_THREADS} (1 = no worker threads), got "${text}"`);
  }
  return n;
}
