// A drain reads until the queue is known empty, and no further: a read that came back with fewer packets than it
// asked for (io.ts TunDevice.readBatch), or a receive after which the bind says it is drained (io.ts
// UdpBind.drained), already found it empty, and another read would only say so again — one more system call
// between a send and the next wait (src/device/send.ts drainTun, receive.ts drain). While packets come one at a
// time and far apart, the read that finds the TUN empty comes after the send, not before it (send.ts drainTun).
// And a pump turn that wrote received packets to the TUN reads it again for what the host answered inside the
// write (src/device/pump.ts). Device level, in memory.
import { afterEach, expect, test } from "bun:test";
import { loadAead } from "../src/crypto/aead.ts";
import type { Device } from "../src/device/device.ts";
import { Endpoint } from "../src/device/endpoint.ts";
import { Pump } from "../src/device/pump.ts";
import { ipv4 } from "../src/device/warmup.ts";
import { keyToHex } from "../src/text/codec.ts";
import { open, seal } from "./noise/helpers.ts";
import { MemoryBind } from "./support/bindtest.ts";
import { configure, memoryDevice, remoteEngine } from "./support/device.ts";
import { MemoryTun } from "./support/tuntest.ts";

/** Keeps what each readBatch returned. */
class CountingTun extends MemoryTun {
  readonly reads: number[] = [];
  override readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
    const n = super.readBatch(buf, stride, lens, max);
    this.reads.push(n);
    return n;
  }
}

/** Keeps what each recvBatch returned; cannot say whether it is drained (as the tests' in-memory bind). */
class CountingBind extends MemoryBind {
  readonly receives: number[] = [];
  override recvBatch(buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number): number {
    const n = super.recvBatch(buf, stride, maxMsgs, offs, lens, eps, maxPkts);
    this.receives.push(n);
    return n;
  }
}

/** …and says whether its queue is empty, as udp.ts does for the socket. */
class DrainedBind extends CountingBind {
  get drained(): boolean {
    return this.queue.length === 0;
  }
}

let dev: Device | null = null;
afterEach(() => {
  dev?.close();
  dev = null;
});

/** As the kernel's TUN when the host answers what it is sent at once (an echo request): the answer — here the packet
 *  with its addresses swapped — is queued for reading before the write returns. */
class AnsweringTun extends CountingTun {
  override writeBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, n: number): number {
    const took = super.writeBatch(buf, offs, lens, n);
    for (const p of this.written.slice(this.written.length - took)) { // slice(-0) would be all of them
      const answer = Uint8Array.from(p);
      answer.set(p.subarray(16, 20), 12);
      answer.set(p.subarray(12, 16), 16);
      this.inbound.push(answer); // readable now; the next wait would say so
    }
    return took;
  }
}

/** A device with one peer whose session is established both ways, on a counting TUN and bind. */
function pair(name: string, bind: MemoryBind, tun = new CountingTun(name)) {
  const aead = loadAead();
  dev = memoryDevice(name, aead, { tun, bind }).dev;
  const remote = remoteEngine(aead);
  configure(dev, [`private_key=${keyToHex(crypto.getRandomValues(new Uint8Array(32)))}`,
    `public_key=${keyToHex(remote.publicKey!)}`, "endpoint=127.0.0.2:40002", "allowed_ip=10.9.0.2/32"]);
  dev.setUp(true);
  dev.sender.sparseMs = Infinity; // every read asks for a batch, whenever the test's drains run (the last test: not)
  const now = performance.now();
  const src = new Uint8Array([127, 0, 0, 2, 0x9c, 0x42]);
  const theirs = remote.addPeer(dev.engine.publicKey!);
  const ours = dev.peers.get(keyToHex(remote.publicKey!))!;
  const response = remote.consumeHandshake(now, ours.noise.createInitiation(now)!, src, false);
  if (response.kind !== "response") throw new Error(`handshake at the peer: ${response.kind}`);
  expect(dev.engine.consumeHandshake(now, response.packet, src, false).kind).toBe("established");
  // The peer's session is confirmed by the first packet it receives (§5.4.5); then it may send back.
  tun.inject(ipv4([10, 9, 0, 1], [10, 9, 0, 2], 100, 17));
  dev.sender.drainTun();
  expect(open(aead, remote, now, bind.sent[0]!.bytes)).not.toBeNull();
  tun.reads.length = 0;
  bind.sent.length = 0;
  const from = Endpoint.fromAddress("127.0.0.2", 40002, 4).rec;
  const deliver = (count: number) => {
    for (let i = 0; i < count; i++) bind.deliver(seal(aead, theirs, theirs.sendingKeypair(now)!, ipv4([10, 9, 0, 2], [10, 9, 0, 1], 100, 17)), from);
  };
  return { dev, tun, deliver, check: (bytes: Uint8Array) => open(aead, remote, performance.now(), bytes) };
}

test("sending: no TUN read after one that came back short", () => {
  const bind = new DrainedBind(0);
  const { dev, tun } = pair("drain0", bind);
  tun.inject(ipv4([10, 9, 0, 1], [10, 9, 0, 2], 100, 17));
  dev.sender.drainTun();
  expect(bind.sent.length).toBe(1);
  expect(tun.reads).toEqual([1]);

  // More than one batch holds: full reads, then a short one, and every packet sent.
  tun.reads.length = 0;
  bind.sent.length = 0;
  const N = 1000;
  for (let i = 0; i < N; i++) tun.inject(ipv4([10, 9, 0, 1], [10, 9, 0, 2], 100, 17));
  dev.sender.drainTun();
  expect(bind.sent.length).toBe(N);
  expect(tun.reads.reduce((a, b) => a + b, 0)).toBe(N);
  expect(tun.reads.length).toBeGreaterThan(1);
  expect(tun.reads.slice(0, -1).every((n) => n === tun.reads[0])).toBe(true);
  expect(tun.reads.at(-1)!).toBeGreaterThan(0);
  expect(tun.reads.at(-1)!).toBeLessThan(tun.reads[0]!);
});

test("receiving: no receive after the bind says it is drained", () => {
  const bind = new DrainedBind(0);
  const { dev, tun, deliver } = pair("drain1", bind);
  deliver(1);
  dev.receiver.drain();
  expect(tun.written.length).toBe(1);
  expect(bind.receives).toEqual([1]);

  // 70 waiting: a receive takes 64 datagrams (receive.ts), the bind is not drained yet; the second takes the rest.
  bind.receives.length = 0;
  deliver(70);
  dev.receiver.drain();
  expect(tun.written.length).toBe(71);
  expect(bind.receives).toEqual([64, 6]);
});

test("receiving: a bind that cannot say whether it is drained is read until a receive finds nothing", () => {
  const bind = new CountingBind(0);
  const { dev, tun, deliver } = pair("drain2", bind);
  deliver(1);
  dev.receiver.drain();
  expect(tun.written.length).toBe(1);
  expect(bind.receives).toEqual([1, 0]);
});

test("a pump turn that wrote received packets to the TUN reads what the host answered, and sends it, in that turn", () => {
  const bind = new DrainedBind(0);
  const tun = new AnsweringTun("drain3");
  const { dev, deliver, check } = pair("drain3", bind, tun);
  const pump = new Pump(dev, dev.sender, dev.receiver);
  deliver(1);
  pump.wake(); // as a poll thread that saw the datagram: one turn runs now, the next after this test's code
  expect(tun.written.length).toBe(1);
  expect(bind.sent.length).toBe(1);
  const answer = check(bind.sent[0]!.bytes);
  expect(answer).not.toBeNull();
  expect([...answer!.subarray(12, 20)]).toEqual([10, 9, 0, 1, 10, 9, 0, 2]);
  // The reads of that turn: the TUN found empty before the receive, then the answer.
  expect(tun.reads).toEqual([0, 1]);
});

/** The system calls a kernel TUN read makes, in order, beside the bind's sends: the library reads one packet per call
 *  until it has `max` or a call finds the TUN empty (zig/src/offload.zig readBatch). */
class SyscallTun extends CountingTun {
  constructor(name: string, readonly calls: string[]) {
    super(name);
  }
  override readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
    const n = super.readBatch(buf, stride, lens, max);
    for (let i = 0; i < n; i++) this.calls.push("read");
    if (n < max) this.calls.push("read: empty");
    return n;
  }
}

class SyscallBind extends DrainedBind {
  constructor(readonly calls: string[]) {
    super(0);
  }
  override sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, n: number): number {
    this.calls.push("send");
    return super.sendBatch(buf, offs, lens, eps, n);
  }
}

test("packets one at a time and far apart: each is sent before the read that finds the TUN empty", () => {
  const calls: string[] = [];
  const bind = new SyscallBind(calls);
  const { dev, tun } = pair("drain4", bind, new SyscallTun("drain4", calls));
  const packet = () => ipv4([10, 9, 0, 1], [10, 9, 0, 2], 100, 17);
  dev.sender.sparseMs = 0; // as if each drain came long after the last (pair's drain read one packet)
  for (let i = 0; i < 3; i++) {
    calls.length = 0;
    tun.inject(packet());
    dev.sender.drainTun();
    // Before: read, read: empty, send — the empty read between the packet and its peer.
    expect(calls).toEqual(["read", "send", "read: empty"]);
  }
  // A batch: read until empty, then one send (sealing many packets per call is the point of batches).
  calls.length = 0;
  tun.inject(packet(), packet(), packet(), packet());
  dev.sender.drainTun(); // after single packets: the first alone, then the rest as a batch
  expect(calls).toEqual(["read", "send", "read", "read", "read", "read: empty", "send"]);
  calls.length = 0;
  tun.inject(packet(), packet(), packet());
  dev.sender.drainTun();
  expect(calls).toEqual(["read", "read", "read", "read: empty", "send"]);
  expect(bind.sent.length).toBe(3 + 4 + 3); // every packet went out

  // Lone packets between drains close together (under load): read as a batch, no send of their own.
  dev.sender.sparseMs = Infinity;
  for (let i = 0; i < 2; i++) {
    calls.length = 0;
    tun.inject(packet());
    dev.sender.drainTun();
    expect(calls).toEqual(["read", "read: empty", "send"]);
  }
});
