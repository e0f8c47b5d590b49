// The router's two sides as the data path sees them, in the spirit of wireguard-go's tun.Device and conn.Bind:
// batched reads and writes over caller-owned buffers, a callback when packets wait, re-arm, close. tun.ts and
// udp.ts are the real ones (the Zig library); test/support/tuntest.ts and bindtest.ts keep packets in memory.
import type { Endpoint } from "./endpoint.ts";

/** The interface was deleted (`ip link del`) or its device stopped working: the daemon should exit. */
export class TunGoneError extends Error {
  constructor(readonly tunName: string) {
    super(`TUN interface ${tunName} is gone (deleted, or its device failed)`);
    this.name = "TunGoneError";
  }
}

/** The plaintext side (whitepaper §1): IP packets from and to the host, one plain packet per slot. */
export interface TunDevice {
  readonly name: string;
  /** A descriptor the pump may wait on (pump.ts), or -1 when there is none (in memory). */
  readonly fd: number;
  /** Up to `max` packets without blocking: packet i at buf[i*stride], its length in lens[i]; 0 = none waiting.
   *  Fewer than `max` means the read found the queue empty: the next packet makes `fd` readable again.
   *  Throws TunGoneError when the interface is gone. */
  readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number;
  /** Writes packets i < n at buf[offs[i]], lens[i] bytes; returns how many the host took. */
  writeBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, n: number): number;
  /** cb runs when packets wait (once per rearm), or with a TunGoneError when the interface went away. */
  onReadable(cb: (gone?: TunGoneError) => void): void;
  /** Called when a write was refused because the link is down (the link watcher looks again, link.ts). */
  onDownWrite: (() => void) | null;
  rearm(): void;
  close(): void;
}

/** The encrypted side: one UDP socket, datagrams to and from peers' endpoints (48-byte records, endpoint.ts). */
export interface UdpBind {
  readonly port: number;
  /** A descriptor the pump may wait on, or -1 when there is none (in memory). */
  readonly fd: number;
  /** Up to maxMsgs datagrams (GRO-coalesced ones split into up to maxPkts packets): packet i at buf[offs[i]],
   *  lens[i] bytes, its source endpoint record at eps[i*EP_SIZE]. Returns the packet count, 0 when none wait. */
  recvBatch(buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number): number;
  /** True when the last recvBatch found the socket empty and reported all it took: the next datagram makes `fd`
   *  readable again, so no call is needed before then. A bind without it is read until a call returns 0. */
  readonly drained?: boolean;
  /** Sends datagrams i < n to the endpoint records at eps[i*EP_SIZE]; returns how many left. */
  sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, n: number): number;
  /** One datagram (handshake messages, cookie replies); false when it could not be sent. */
  sendBytes(bytes: Uint8Array, ep: Endpoint): boolean;
  setFwmark(mark: number): void;
  /** cb runs when datagrams wait (once per rearm). */
  onReadable(cb: () => void): void;
  rearm(): void;
  close(): void;
}

/** Opens the encrypted side on a port (0: any free one). udp.ts's Udp.open, or an in-memory bind in tests. */
export type OpenBind = (port: number) => UdpBind;
