// The TUN interface: the plaintext side of the router (whitepaper §1: packets leaving through the interface are
// encrypted to peers). Thin wrapper over the Zig library: batched reads/writes over caller-owned buffers, and a
// native poll thread that wakes JS when packets wait (docs/platform.md: ~0 % CPU idle, no busy loop).
import type { JSCallback } from "bun:ffi";
import { constants } from "node:os";
import { TunGoneError, type TunDevice } from "./io.ts";
import { loadNative, pollCallback, releaseCallback, type Native } from "../native/lib.ts";

const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000; // no 4-byte packet-information prefix: reads return bare IP packets
const IFF_VNET_HDR = 0x4000; // a virtio_net_hdr on every read/write: TSO/USO/checksum offloads (zig/src/offload.zig)
// TUNSETOFFLOAD flags, named as reported in Tun.offloads. USO needs Linux ≥ 6.2; the library falls back without it.
const TUN_F: [string, number][] = [["csum", 0x01], ["tso4", 0x02], ["tso6", 0x04], ["uso4", 0x20], ["uso6", 0x40]];
const DEFAULT_MTU = 1420; // wg-quick's default: 1500 minus the IPv6+UDP+WireGuard overhead (80 bytes)
const READABLE = 1;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));
function errnoName(neg: number): string {
  return errnoNames.get(-neg) ?? `errno ${-neg}`;
}

export class Tun implements TunDevice {
  readonly name: string;
  readonly fd: number;
  /** What offload is in use: "" (none), else "vnet" plus the TUNSETOFFLOAD flags the kernel took, e.g. "vnet,csum,tso4,tso6,uso4,uso6". */
  readonly offloads: string;
  #native: Native;
  #offload: number | null; // native offload.Tun* (per-TUN split/coalesce state) when the vnet header is on
  #poller: number | null = null; // native Poller*
  #callback: JSCallback | null = null;
  #closed = false;
  #gone = false;
  /** Packets handed to writeBatch that the kernel did not take (link down, full queue, refused as malformed). */
  dropped = 0;
  /** Called when a write was refused because the link is down (EIO), a sign the link state changed. */
  onDownWrite: (() => void) | null = null;

  private constructor(native: Native, name: string, fd: number, offload: number | null, offloads: string) {
    this.#native = native;
    this.name = name;
    this.fd = fd;
    this.#offload = offload;
    this.offloads = offloads;
  }

  /**
   * Creates (or attaches to) TUN interface `name`, IFF_TUN|IFF_NO_PI, non-blocking, with the given MTU (default 1420).
   * With `offload` (default true) it also asks for IFF_VNET_HDR and TSO/USO/checksum offloads, taking what the kernel
   * grants (see `offloads`); reads and writes keep their contract either way: one plain IP packet per slot.
   */
  static create(name: string, opts: { mtu?: number; offload?: boolean } = {}): Tun {
    const bytes = Buffer.from(name, "utf8");
    if (bytes.length === 0 || bytes.length > 15 || /[\s/\0]/.test(name)) {
      throw new Error(`TUN interface name: expected 1–15 bytes without spaces or "/", got ${JSON.stringify(name)}`);
    }
    const mtu = opts.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new RangeError(`TUN ${name}: MTU: expected an integer 68–65535, got ${mtu}`);
    }
    const native = loadNative();
    const nameOut = new Uint8Array(16);
    const cname = Buffer.concat([bytes, Buffer.from([0])]);
    const plain = () => native.sym.bunwg_tun_open(cname, IFF_TUN | IFF_NO_PI, mtu, nameOut);
    let fd: number;
    let state: number | null = null;
    let offloads = "";
    if (opts.offload ?? true) {
      fd = native.sym.bunwg_tun_open(cname, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, mtu, nameOut);
      if (fd === -constants.errno.EINVAL) fd = plain(); // no IFF_VNET_HDR here: a plain TUN
      if (fd >= 0) {
        const got = native.sym.bunwg_tun_offload_enable(fd, TUN_F.reduce((m, [, f]) => m | f, 0));
        if (got < 0) {
          native.sym.bunwg_tun_close(fd); // header size refused: start over without it
          fd = plain();
        } else {
          state = native.sym.bunwg_tun_offload_new(fd, got) as number | null;
          if (!state) {
            native.sym.bunwg_tun_close(fd);
            throw new Error(`TUN ${name}: cannot allocate the offload state (out of memory)`);
          }
          offloads = ["vnet", ...TUN_F.filter(([, f]) => (got & f) !== 0).map(([n]) => n)].join(",");
        }
      }
    } else fd = plain();
    if (fd < 0) {
      const why =
        fd === -constants.errno.EPERM || fd === -constants.errno.EACCES
          ? "permission denied (needs root or CAP_NET_ADMIN)"
          : fd === -constants.errno.ENOENT || fd === -constants.errno.ENODEV
            ? "/dev/net/tun is missing (load the tun module or mount the device)"
            : fd === -constants.errno.EBUSY
              ? "an interface of that name exists and is busy or not a TUN device"
              : errnoName(fd);
      throw new Error(`TUN ${name}: cannot create: ${why}`);
    }
    const actual = Buffer.from(nameOut.subarray(0, nameOut.indexOf(0))).toString("utf8");
    return new Tun(native, actual, fd, state, offloads);
  }

  /**
   * Reads up to `max` packets without blocking: packet i at buf[i*stride], its length in lens[i].
   * Returns the count (0 = nothing waiting). Throws TunGoneError when the interface was deleted.
   */
  readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
    if (this.#closed) throw new Error(`TUN ${this.name}: readBatch after close`);
    if (max * stride > buf.length || max > lens.length) {
      throw new RangeError(`TUN ${this.name}: readBatch: ${max} packets × stride ${stride} need ${max * stride} bytes (buf has ${buf.length}) and ${max} lens (have ${lens.length})`);
    }
    return this.tookRead(this.#offload !== null
      ? this.#native.sym.bunwg_tun_offload_read_batch(this.#offload as never, buf, stride, lens, max)
      : this.#native.sym.bunwg_tun_read_batch(this.fd, buf, stride, lens, max));
  }

  /** What a read that returned n (the library's code) means: packets read. Throws TunGoneError when the interface
   *  is gone. Also for reads a worker made. */
  tookRead(n: number): number {
    if (n >= 0) return n;
    if (n === this.#native.tunGoneCode) {
      this.#gone = true;
      throw new TunGoneError(this.name);
    }
    throw new Error(`TUN ${this.name}: read failed: ${errnoName(n)}`);
  }

  /**
   * Writes packets buf[offs[i] .. offs[i]+lens[i]] for i < n. Returns how many the kernel took (a packet it refuses as
   * malformed is skipped; a full queue ends the batch early; while the link is down Linux refuses every write with
   * EIO and the batch is dropped — the interface lives on). What was not taken is counted in `dropped`.
   * Throws TunGoneError when the interface was deleted.
   */
  writeBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.#closed) throw new Error(`TUN ${this.name}: writeBatch after close`);
    if (n > offs.length || n > lens.length) throw new RangeError(`TUN ${this.name}: writeBatch: n = ${n} exceeds offs (${offs.length}) or lens (${lens.length})`);
    for (let i = 0; i < n; i++) {
      if (offs[i] + lens[i] > buf.length) throw new RangeError(`TUN ${this.name}: writeBatch: packet ${i} (${offs[i]}+${lens[i]}) exceeds buf (${buf.length} bytes)`);
    }
    if (n === 0) return 0;
    const w = this.#offload !== null
      ? this.#native.sym.bunwg_tun_offload_write_batch(this.#offload as never, buf, offs, lens, n)
      : this.#native.sym.bunwg_tun_write_batch(this.fd, buf, offs, lens, n);
    return this.tookWrite(n, w);
  }

  /** The native offload state a worker thread writes through (src/device/workers.ts), or null without offloads. */
  get offloadState(): number | null {
    return this.#closed ? null : this.#offload;
  }

  /** What a write of n packets that returned w (the library's code) means, counted as writeBatch counts it: the
   *  packets taken. Throws TunGoneError when the interface is gone. Also for writes a worker made. */
  tookWrite(n: number, w: number): number {
    if (w >= 0) {
      this.dropped += n - w;
      return w;
    }
    if (w === this.#native.tunDownCode) {
      this.dropped += n;
      this.onDownWrite?.();
      return 0;
    }
    if (w === this.#native.tunGoneCode) {
      this.#gone = true;
      throw new TunGoneError(this.name);
    }
    throw new Error(`TUN ${this.name}: write failed: ${errnoName(w)}`);
  }

  /**
   * Calls `cb` once when packets are waiting, then not again until rearm(). When the interface disappears the
   * callback fires with a TunGoneError (readBatch would throw it too). One callback per Tun.
   */
  onReadable(cb: (gone?: TunGoneError) => void): void {
    if (this.#closed) throw new Error(`TUN ${this.name}: onReadable after close`);
    if (this.#poller !== null) throw new Error(`TUN ${this.name}: onReadable: a callback is already registered`);
    const callback = pollCallback((event: number) => {
      if (this.#closed) return; // queued just before close()
      if (event === READABLE) return cb();
      this.#gone = true;
      cb(new TunGoneError(this.name));
    });
    // With offload the thread also wakes us while split segments wait in the library (offload.zig).
    const p = this.#offload !== null
      ? this.#native.sym.bunwg_poller_start_offload(this.#offload as never, callback.ptr!)
      : this.#native.sym.bunwg_poller_start(this.fd, callback.ptr!);
    if (!p) {
      releaseCallback(callback);
      throw new Error(`TUN ${this.name}: cannot start the poll thread`);
    }
    this.#callback = callback;
    this.#poller = p as unknown as number;
  }

  /** Lets the poll thread wake us again; call after readBatch returned 0. */
  rearm(): void {
    if (this.#poller !== null && !this.#closed) this.#native.sym.bunwg_poller_rearm(this.#poller as never);
  }

  /** True once the interface was reported gone. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Stops the poll thread and closes the fd (a non-persistent TUN interface disappears with it). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poller !== null) {
      this.#native.sym.bunwg_poller_stop(this.#poller as never);
      this.#poller = null;
    }
    if (this.#callback) {
      releaseCallback(this.#callback);
      this.#callback = null;
    }
    this.#native.sym.bunwg_tun_close(this.fd);
    if (this.#offload !== null) {
      this.#native.sym.bunwg_tun_offload_free(this.#offload as never); // after the poll thread stopped reading it
      this.#offload = null;
    }
  }
}
