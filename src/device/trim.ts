// Resident memory that the runtime's own machine code leaves behind. Start-up (parsing and compiling our modules),
// a burst of traffic (the JIT's optimising tiers) and a large configuration (the parser, the JIT again) run code in
// the Bun executable once; its pages then stay mapped, and counted in RSS, though nothing runs them again — the
// bulk of an idle daemon's RSS above the bare runtime (bench/RESULTS.md, "Memory: where it goes"). trimCode() drops
// our mappings of the executable's read-only code pages (madvise MADV_DONTNEED on r-xp file mappings): the page
// cache keeps them, and code that runs again maps its page back with a minor fault. Only code mappings are
// touched — never writable or relocated (r--p) ones, whose private copies MADV_DONTNEED would throw away.
// BUNWG_NO_TRIM=1 turns it off (to measure it).
import { ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import { loadNative } from "../native/lib.ts";


const PAGE = 4096;

// Through the Zig library (zig/src/trim.zig): the syscall is its business. null when it cannot be loaded.
function releaser(): ((addr: number, len: number) => number) | null {
  try {
    const sym = loadNative().sym;
    return (addr, len) => sym.bunwg_release_pages(addr, len);
  } catch {
    return null;
  }
}

/** Gives back the whole pages inside each buffer: they read as zeros afterwards and are faulted in again when next
 *  written. Only for buffers that hold nothing live — the data path's packet slots between drains (a burst leaves
 *  megabytes of them touched, ~4 MiB of GRO-sized receive slots alone). Returns the bytes advised. */
export function releasePages(buffers: Uint8Array[]): number {
  const release = releaser();
  if (release === null) return 0;
  let bytes = 0;
  for (const b of buffers) {
    if (b.byteLength < 2 * PAGE) continue;
    const at = ptr(b);
    const start = Math.ceil(at / PAGE) * PAGE, end = Math.floor((at + b.byteLength) / PAGE) * PAGE;
    if (end > start && release(start, end - start) === 0) bytes += end - start;
  }
  return bytes;
}

/** Drops this process's mappings of file-backed code pages; returns the bytes of address space advised (0 when
 *  it could not run here). Slow path: a few milliseconds, meant for idle moments. */
export function trimCode(): number {
  const release = releaser();
  if (release === null) return 0;
  let maps: string;
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    return 0;
  }
  let bytes = 0;
  for (const line of maps.split("\n")) {
    // "start-end perms offset dev inode path": only executable, non-writable, private mappings of a file.
    const m = /^([0-9a-f]+)-([0-9a-f]+) r-xp [0-9a-f]+ \S+ [1-9]\d* +\//.exec(line);
    if (m === null) continue;
    const start = parseInt(m[1], 16), end = parseInt(m[2], 16);
    if (release(start, end - start) === 0) bytes += end - start;
  }
  return bytes;
}

/** Once `activity()` has returned the same value for `quietMs`, collects the JS heap (Bun.gc(true): a removed peer
 *  set is freed now, not at some later allocation-driven collection) and asks the heap to give back the pages that
 *  freed; a second later, gives back the pages of the packet buffers (`buffers()`) and trims the code pages (after
 *  the shrink, which runs code of its own when the loop idles).
 *  Then nothing until after the next change. Checks once a second. Returns a function that stops it. */
export function trimWhenQuiet(activity: () => number, quietMs: number, buffers: () => Uint8Array[] = () => []): () => void {
  let last = activity();
  let since = performance.now();
  let step = 0; // 0: active since the last trim; 1: heap collected and shrunk; 2: code trimmed too
  const timer = setInterval(() => {
    const now = activity();
    if (now !== last) {
      last = now;
      since = performance.now();
      step = 0;
    } else if (step === 0 && performance.now() - since >= quietMs) {
      step = 1;
      Bun.gc(true);
      // After removing 20,000 peers this gives back ~4 of the ~10 MiB that otherwise stay resident (bench/RESULTS.md).
      // Deprecated in Bun's types, but still the only such call.
      (Bun as unknown as { shrink?: () => void }).shrink?.();
    } else if (step === 1) {
      step = 2;
      releasePages(buffers());
      trimCode();
    }
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
