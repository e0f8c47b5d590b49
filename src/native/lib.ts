// bun:ffi bindings to the Zig library (zig/src/root.zig) and how it is found and loaded:
// - the variant is picked by CPU flags (variants.ts), falling back to slower ones if a file is missing;
// - from a source checkout: zig/zig-out/lib/ relative to this file;
// - inside a `bun build --compile` executable: src/native/embed.ts (imported by the compile entry) registers the
//   embedded .so files; their bytes go into a memfd and are dlopen()ed as /proc/self/fd/N, which needs neither a
//   writable nor an exec-mounted TMPDIR (docs/platform.md: Bun's own extraction to $TMPDIR fails there and leaks files).
import { dlopen, JSCallback, FFIType, type Library } from "bun:ffi";
import { closeSync, existsSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { libraryFileName, supportedVariants, variantsFor, type Variant } from "./variants.ts";

export const ABI_VERSION = 1; // must match zig/src/root.zig

const { i32, u32, u64, ptr, void: voidT, function: fnT, cstring } = FFIType;

const symbols = {
  bunwg_abi_version: { args: [], returns: u32 },
  bunwg_variant: { args: [], returns: cstring },
  bunwg_poly_ifma: { args: [i32], returns: i32 },
  bunwg_tun_gone_code: { args: [], returns: i32 },
  bunwg_tun_down_code: { args: [], returns: i32 },
  bunwg_tun_open: { args: [ptr, u32, u32, ptr], returns: i32 },
  bunwg_tun_set_mtu: { args: [ptr, u32], returns: i32 },
  bunwg_tun_get_mtu: { args: [ptr], returns: i32 },
  bunwg_tun_read_batch: { args: [i32, ptr, u32, ptr, u32], returns: i32 },
  bunwg_tun_write_batch: { args: [i32, ptr, ptr, ptr, u32], returns: i32 },
  bunwg_tun_close: { args: [i32], returns: i32 },
  bunwg_poller_start: { args: [i32, fnT], returns: ptr },
  bunwg_poller_rearm: { args: [ptr], returns: voidT },
  bunwg_poller_stop: { args: [ptr], returns: voidT },
  bunwg_release_pages: { args: [u64, u64], returns: i32 },
  // the interface's up/down state and MTU, in whichever namespace it lives (zig/src/link.zig)
  bunwg_link_start: { args: [i32, fnT], returns: ptr },
  bunwg_link_state: { args: [ptr, ptr], returns: u32 },
  bunwg_link_look_now: { args: [ptr, ptr], returns: u32 },
  bunwg_link_kick: { args: [ptr], returns: voidT },
  bunwg_link_stop: { args: [ptr], returns: voidT },
  // TUN offloads (zig/src/offload.zig)
  bunwg_tun_offload_enable: { args: [i32, u32], returns: i32 },
  bunwg_tun_offload_new: { args: [i32, u32], returns: ptr },
  bunwg_tun_offload_free: { args: [ptr], returns: voidT },
  bunwg_tun_offload_read_batch: { args: [ptr, ptr, u32, ptr, u32], returns: i32 },
  bunwg_tun_offload_write_batch: { args: [ptr, ptr, ptr, ptr, u32], returns: i32 },
  bunwg_poller_start_offload: { args: [ptr, fnT], returns: ptr },
  bunwg_offload_split: { args: [ptr, u32, ptr, u32, ptr, u32], returns: i32 },
  bunwg_offload_take_read: { args: [ptr, ptr, ptr, u32, u32], returns: i32 },
  bunwg_offload_coalesce: { args: [ptr, ptr, ptr, u32, ptr, u32, ptr, ptr, u32], returns: i32 },
  bunwg_aead_seal: { args: [ptr, u64, ptr, u32, ptr, u32, ptr], returns: voidT },
  bunwg_aead_open: { args: [ptr, u64, ptr, u32, ptr, u32, ptr], returns: i32 },
  bunwg_chachapoly_seal: { args: [ptr, ptr, ptr, u32, ptr, u32, ptr], returns: voidT },
  bunwg_chachapoly_open: { args: [ptr, ptr, ptr, u32, ptr, u32, ptr], returns: i32 },
  // XChaCha20-Poly1305 for cookie replies (zig/src/xchacha.zig)
  bunwg_xchacha_seal: { args: [ptr, ptr, ptr, u32, ptr, u32, ptr], returns: voidT },
  bunwg_xchacha_open: { args: [ptr, ptr, ptr, u32, ptr, u32, ptr], returns: i32 },
  bunwg_seal_transport: { args: [u32, ptr, u32, ptr, ptr, ptr, u32, ptr], returns: i32 },
  bunwg_open_transport: { args: [u32, ptr, u32, ptr, ptr, ptr, u32, ptr, ptr], returns: i32 },
  // UDP (zig/src/udp.zig)
  bunwg_udp_open_family: { args: [u32, u32, ptr, ptr], returns: i32 },
  bunwg_udp_set_gro: { args: [i32, u32], returns: i32 },
  bunwg_udp_set_mark: { args: [i32, u32], returns: i32 },
  bunwg_udp_recv_batch: { args: [i32, ptr, u32, u32, ptr, ptr, ptr, u32, ptr], returns: i32 },
  bunwg_udp_recv_state_size: { args: [], returns: u32 },
  bunwg_udp_send_batch: { args: [i32, u32, ptr, ptr, ptr, ptr, u32, u32, ptr], returns: i32 },
  bunwg_udp_close: { args: [i32], returns: i32 },
  // Route changes (zig/src/route.zig)
  bunwg_route_open_watch: { args: [], returns: i32 },
  bunwg_route_open_query: { args: [], returns: i32 },
  bunwg_route_drain: { args: [i32], returns: i32 },
  bunwg_route_close: { args: [i32], returns: i32 },
  bunwg_route_output_interface: { args: [i32, ptr, u32], returns: i32 },
  bunwg_wait3: { args: [i32, i32, i32, i32], returns: i32 },
  // The data plane's worker threads (zig/src/pool.zig, src/device/workers.ts)
  bunwg_pool_start: { args: [u32], returns: ptr },
  bunwg_pool_stop: { args: [ptr], returns: voidT },
  bunwg_pool_event_fd: { args: [ptr], returns: i32 },
  bunwg_pool_clear_event: { args: [ptr], returns: voidT },
  bunwg_pool_pending_code: { args: [], returns: i32 },
  bunwg_pool_sleeping: { args: [ptr], returns: i32 },
  bunwg_pool_idle: { args: [ptr], returns: u32 },
  bunwg_pool_seal_send: { args: [ptr, u32, u32, ptr, u32, ptr, ptr, ptr, u32, ptr, i32, u32, ptr, u32], returns: i32 },
  bunwg_pool_udp_recv_open: { args: [ptr, i32, ptr, u32, u32, u32, ptr, ptr, ptr, u32, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, u32, u32, u32, u32], returns: i32 },
  bunwg_pool_session_add: { args: [ptr, u32, ptr], returns: i32 },
  bunwg_pool_session_remove: { args: [ptr, u32], returns: voidT },
  bunwg_pool_open: { args: [ptr, u32, u32, ptr, u32, ptr, ptr, ptr, u32, ptr, ptr], returns: i32 },
  bunwg_pool_tun_write: { args: [ptr, u32, ptr, i32, ptr, ptr, ptr, u32], returns: i32 },
  bunwg_pool_tun_read: { args: [ptr, ptr, i32, ptr, u32, ptr, u32, u32, u32, u32, u32], returns: i32 },
  bunwg_pool_result: { args: [ptr, u32], returns: i32 },
  bunwg_pool_wait: { args: [ptr, u32], returns: i32 },
  // BLAKE2s primitives for the handshake (zig/src/blake2s.zig)
  bunwg_hash: { args: [ptr, ptr, u32, ptr, u32, ptr, u32], returns: voidT },
  bunwg_mac: { args: [ptr, ptr, u32, ptr, u32], returns: voidT },
  bunwg_hmac: { args: [ptr, ptr, u32, ptr, u32, ptr, u32], returns: voidT },
  bunwg_kdf: { args: [u32, ptr, ptr, ptr, ptr, u32, ptr, u32], returns: voidT },
} as const;

export type NativeSymbols = Library<typeof symbols>["symbols"];

export interface Native {
  readonly variant: Variant;
  readonly path: string; // file it was loaded from (or "/proc/self/fd/N (embedded libbunwg-….so)")
  readonly sym: NativeSymbols;
  readonly tunGoneCode: number; // what read/write return when the interface was deleted
  readonly tunDownCode: number; // what write returns when the link is down (EIO): packets dropped, device lives
}

// Filled by embed.ts inside a compiled executable: library file name → embedded path (readable with fs).
const embedded = new Map<string, string>();
export function registerEmbedded(files: Record<string, string>): void {
  for (const [name, path] of Object.entries(files)) embedded.set(name, path);
}

const loaded = new Map<string, Native>();

function libc() {
  return dlopen("libc.so.6", { memfd_create: { args: [ptr, u32], returns: i32 } });
}

// Copies an embedded library into an anonymous memory file so dlopen can map it without touching the disk.
function memfdPath(name: string, bytes: Uint8Array): { path: string; fd: number } {
  const c = libc();
  try {
    const MFD_CLOEXEC = 1;
    const fd = c.symbols.memfd_create(Buffer.from(`${name}\0`), MFD_CLOEXEC);
    if (fd < 0) throw new Error(`memfd_create failed for embedded ${name}`);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    return { path: `/proc/self/fd/${fd}`, fd };
  } finally {
    c.close();
  }
}

function open(v: Variant, path: string, fdToClose?: number): Native {
  const lib = dlopen(path, symbols);
  if (fdToClose !== undefined) closeSync(fdToClose); // the mapping outlives the fd
  const abi = lib.symbols.bunwg_abi_version();
  if (abi !== ABI_VERSION) {
    lib.close();
    throw new Error(`${path}: library ABI version ${abi}, expected ${ABI_VERSION} (rebuild with: bun run build:zig)`);
  }
  return { variant: v, path, sym: lib.symbols, tunGoneCode: lib.symbols.bunwg_tun_gone_code(), tunDownCode: lib.symbols.bunwg_tun_down_code() };
}

/** Directory holding the built libraries in a source checkout. */
export const LIB_DIR = join(import.meta.dir, "..", "..", "zig", "zig-out", "lib");

/**
 * Loads one variant of the library (by id, e.g. "x86_64_v3"; default: $BUNWG_NATIVE_VARIANT), or the fastest this
 * CPU runs.
 * Throws an Error saying what is missing or wrong; callers decide whether to fall back.
 */
export function loadNative(variantId: string | undefined = process.env.BUNWG_NATIVE_VARIANT || undefined): Native {
  const candidates = variantId
    ? variantsFor().filter((v) => v.id === variantId)
    : supportedVariants();
  if (candidates.length === 0) {
    throw new Error(`native library variant "${variantId}": unknown on ${process.arch}, expected one of ${variantsFor().map((v) => v.id).join(", ")}`);
  }
  if (variantId && !supportedVariants().some((v) => v.id === variantId)) {
    throw new Error(`native library variant "${variantId}": this CPU lacks ${candidates[0].needs.join("/")}`);
  }
  const problems: string[] = [];
  for (const v of candidates) {
    const cached = loaded.get(v.id);
    if (cached) return cached;
    const file = libraryFileName(v);
    try {
      let n: Native;
      const emb = embedded.get(file);
      if (emb !== undefined) {
        const m = memfdPath(file, readFileSync(emb));
        n = open(v, m.path, m.fd);
        n = { ...n, path: `${m.path} (embedded ${file})` };
      } else {
        const path = join(LIB_DIR, file);
        if (!existsSync(path)) {
          problems.push(`${path} not found (build it with: bun run build:zig)`);
          continue;
        }
        n = open(v, path);
      }
      loaded.set(v.id, n);
      return n;
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
    }
  }
  throw new Error(`native library not loaded: ${problems.join("; ")}`);
}

// JSCallbacks handed to native threads must stay reachable while native code may call them.
const liveCallbacks = new Set<JSCallback>();

/** A thread-safe `void (int32)` callback for the poll thread; keep it until `releaseCallback`. */
export function pollCallback(fn: (event: number) => void): JSCallback {
  const cb = new JSCallback(fn, { args: [i32], returns: voidT, threadsafe: true });
  liveCallbacks.add(cb);
  return cb;
}

/**
 * Frees a callback once no native thread can call it any more. A call the poll thread queued just before it was
 * stopped may still be waiting in the event loop, so the close is deferred past it.
 */
export function releaseCallback(cb: JSCallback): void {
  setTimeout(() => {
    liveCallbacks.delete(cb);
    cb.close();
  }, 50).unref();
}
