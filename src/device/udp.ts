// The outer UDP socket, in the native library: one dual-stack socket (IPv4 and IPv6 endpoints on one port, as
// wireguard-go's two binds do), batched recvmmsg/sendmmsg, UDP GSO/GRO, and sticky source addresses. Bun's own
// udpSocket calls JS once per datagram and hides the local address a datagram arrived on; this keeps both the
// batching and the address. A poll thread wakes the event loop when datagrams wait (as for the TUN).
import { loadNative, type Native } from "../native/lib.ts";
import { PollThread, READABLE } from "../native/pollThread.ts";
import { EP_SIZE, SOURCE_DROPPED, type Endpoint } from "./endpoint.ts";
import type { UdpBind } from "./io.ts";

const EADDRINUSE = 98;

export class PortInUseError extends Error {}

/** Values of byte 40 of an endpoint record after a send (zig/src/udp.zig). */

export class Udp implements UdpBind {
  private poller: PollThread | null = null;
  private closed = false;
  private readonly one = { buf: new Uint8Array(2048), offs: new Uint32Array(1), lens: new Uint32Array(1), eps: new Uint8Array(EP_SIZE) };
  private readonly dropped = new Uint32Array(1);
  /** Datagrams taken from the socket but not yet reported (a GRO burst beyond maxPkts): zig/src/udp.zig RecvState. */
  readonly carry: Uint8Array;
  /** carry's first words: count, next, at, short (zig/src/udp.zig RecvState). */
  private readonly carryWords: Uint32Array;
  /** UDP GSO: runs of equal-size datagrams to one endpoint leave in one send. Turned off if the kernel refuses. */
  gso = true;

  private constructor(private readonly native: Native, readonly fd: number, readonly port: number, readonly family: 4 | 6) {
    this.carry = new Uint8Array(native.sym.bunwg_udp_recv_state_size());
    this.carryWords = new Uint32Array(this.carry.buffer, 0, 4);
  }

  /** Binds port (0 = any free port), dual-stack unless ipv4Only (or the host has no IPv6). Throws PortInUseError
   *  naming the port when it is taken. */
  static open(port: number, opts: { gso: boolean; gro: boolean; ipv4Only?: boolean } = { gso: true, gro: true }): Udp {
    const native = loadNative();
    const portOut = new Uint16Array(1);
    const famOut = new Uint8Array(1);
    const fd = native.sym.bunwg_udp_open_family(port, opts.ipv4Only ? 4 : 0, portOut, famOut);
    if (fd === -EADDRINUSE) throw new PortInUseError(`listen_port: UDP port ${port} is already in use`);
    if (fd < 0) throw new Error(`listen_port: could not bind UDP port ${port} (errno ${-fd})`);
    const u = new Udp(native, fd, portOut[0], famOut[0] === 6 ? 6 : 4);
    u.gso = opts.gso;
    u.gro = opts.gro && native.sym.bunwg_udp_set_gro(fd, 1) === 0;
    return u;
  }

  /** Whether the kernel coalesces received datagrams (UDP_GRO); recvBatch splits them again. */
  gro = false;

  onReadable(cb: () => void): void {
    this.poller = new PollThread(this.native, this.fd, `UDP port ${this.port}`, (event) => {
      if (!this.closed && event === READABLE) cb();
    });
  }

  rearm(): void {
    if (!this.closed) this.poller?.rearm();
  }

  /** Packets k < return value: buf[offs[k]] .. +lens[k], source at eps[k*EP_SIZE]. 0 = nothing waiting.
   *  Datagrams already taken but not yet reported (a GRO burst larger than maxPkts) stay in buf and are reported
   *  by the next call: pass the same buf each time, and leave it unchanged outside the reported packets. */
  recvBatch(buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number): number {
    const n = this.native.sym.bunwg_udp_recv_batch(this.fd, buf, stride, maxMsgs, offs, lens, eps, maxPkts, this.carry);
    return n < 0 ? 0 : n;
  }

  /** The last recvBatch found the socket empty (its recvmmsg came back short) and reported all it took. */
  get drained(): boolean {
    const w = this.carryWords;
    return w[3] !== 0 && w[1] >= w[0];
  }

  /** Sends n packets; eps[i*EP_SIZE+40] comes back as SOURCE_DROPPED where a vanished sticky source was dropped,
   *  FAMILY_REFUSED where an IPv6 endpoint was not sent to because this socket is IPv4-only. */
  sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, n: number): number {
    return this.native.sym.bunwg_udp_send_batch(this.fd, this.family, buf, offs, lens, eps, n, this.gso ? 1 : 0, this.dropped);
  }

  /** One datagram (handshake messages, cookie replies): the slow path. False when it could not be sent (the
   *  caller says so in the log: a lost handshake message is retried only by the §6.4 timers). */
  sendBytes(bytes: Uint8Array, ep: Endpoint): boolean {
    const o = this.one;
    o.buf.set(bytes);
    o.lens[0] = bytes.length;
    o.eps.set(ep.rec);
    const sent = this.sendBatch(o.buf, o.offs, o.lens, o.eps, 1);
    if (o.eps[40] === SOURCE_DROPPED) ep.clearSource();
    return sent === 1;
  }

  setFwmark(mark: number): void {
    if (this.native.sym.bunwg_udp_set_mark(this.fd, mark >>> 0) !== 0)
      throw new Error(`fwmark: setting SO_MARK=${mark} on the UDP socket failed`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.stop();
    this.poller = null;
    this.native.sym.bunwg_udp_close(this.fd);
  }
}
