// With worker threads, a busy device has a worker receive the next batch and open it in the same job (pool.zig
// udp_recv_open), with copies of the sessions' receive keys by index (workers.ts, zig/src/sessions.zig); this thread
// then applies the replay window (§5.4.6: only after authentication) and the allowed-IPs check (§2). Device level:
// a real UDP socket and a real worker, the TUN a FIFO the worker writes to, the peer a protocol engine here.
import { afterEach, expect, test } from "bun:test";
import { constants, mkdtempSync, openSync, closeSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAead } from "../../src/crypto/aead.ts";
import { Device } from "../../src/device/device.ts";
import { Logger } from "../../src/device/log.ts";
import { Udp } from "../../src/device/udp.ts";
import { Workers } from "../../src/device/workers.ts";
import { keyToHex } from "../../src/text/codec.ts";
import type { Keypair, Peer } from "../../src/noise/index.ts";
import { seal } from "../noise/helpers.ts";
import { configure, remoteEngine } from "../support/device.ts";
import { run } from "../support/process.ts";
import { MemoryTun } from "../support/tuntest.ts";

/** A TUN whose writes go to a FIFO (one fd for both ends), reachable by a worker like a real one (workers.ts). */
class FifoTun extends MemoryTun {
  override readonly fd: number;
  readonly offloadState = null;
  constructor(readonly path: string) {
    super("fifo0");
    this.fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK); // both ends; an empty read fails at once
  }
  tookWrite(_n: number, result: number): number { return result; }
  tookRead(result: number): number { return result; }
  /** The IPv4 packets written so far, split by their total length. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const buf = new Uint8Array(1 << 16);
    let n = 0;
    try { n = readSync(this.fd, buf); } catch { return out; } // nothing written: EAGAIN
    for (let at = 0; at + 20 <= n; ) {
      const len = (buf[at + 2] << 8) | buf[at + 3];
      out.push(buf.slice(at, at + len));
      at += len;
    }
    return out;
  }
  override close(): void {
    super.close();
    closeSync(this.fd);
  }
}

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.reverse()) f();
  cleanup = [];
});

/** An IPv4 packet from 10.9.0.2 to 10.9.0.1 whose payload starts with `tag`. */
function ipPacket(tag: number): Uint8Array {
  const p = new Uint8Array(64);
  p.set([0x45, 0, 0, 64, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 2, 10, 9, 0, 1]);
  p[20] = tag;
  return p;
}

test("a busy device's worker receives and opens; forgeries and replays never reach the TUN; a session the workers lack a key for is opened here", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bunwg-fused-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  await run(["mkfifo", join(dir, "tun")]);
  const aead = loadAead();
  const tun = new FifoTun(join(dir, "tun"));
  const dev = new Device(tun, aead, new Logger("fused0", "silent"), "silent", (o) => void crypto.getRandomValues(o));
  cleanup.push(() => dev.close());
  dev.udp = Udp.open(0, { gso: true, gro: true, ipv4Only: true });
  // As Device.start does with --threads 2 (start itself needs a real interface to follow).
  const workers = Workers.start(1)!;
  dev.workers = workers;
  dev.engine.indices.observer = workers;

  const x = remoteEngine(aead);
  configure(dev, [
    `private_key=${keyToHex(crypto.getRandomValues(new Uint8Array(32)))}`,
    `listen_port=${dev.udp.port}`, // the socket set above: no other is bound, so nothing but this test receives
    `public_key=${keyToHex(x.publicKey!)}`,
    "allowed_ip=10.9.0.2/32",
  ]);
  const port = dev.udp!.port;
  const xp: Peer = x.addPeer(dev.engine.publicKey!);
  const sender = await Bun.udpSocket({ hostname: "127.0.0.1" });
  cleanup.push(() => sender.close());
  const FROM = new Uint8Array([127, 0, 0, 1, sender.port >> 8, sender.port & 0xff]);

  /** x initiates at `now`, the device answers: the device's new session, as the workers' table has it. */
  const session = (now: number): Keypair => {
    const out = dev.engine.consumeHandshake(now, xp.createInitiation(now)!, FROM, false);
    if (out.kind !== "response") throw new Error(`handshake: ${out.kind}`);
    if (x.consumeHandshake(now, out.packet, new Uint8Array([127, 0, 0, 1, 0, 1]), false).kind !== "established") throw new Error("no session at x");
    return xp.sendingKeypair(now)!;
  };
  /** Sends the datagrams, then has the device receive them the busy way: a worker receives and opens. */
  const deliverBusy = async (datagrams: Uint8Array[]): Promise<Uint8Array[]> => {
    for (const d of datagrams) sender.send(d, port, "127.0.0.1");
    await Bun.sleep(50);
    // A full read "a minute from now": the device counts as busy until then (workers.ts BUSY_MS), however slowly
    // this runs, so the next receive goes to a worker.
    workers.sawRead(64, performance.now() + 60_000);
    expect(dev.receiver.drain()).toBe(0); // handed to a worker
    expect(dev.receiver.reading).toBe(true);
    let got = 0;
    for (let i = 0; i < 200 && got === 0; i++) {
      await Bun.sleep(5);
      got = dev.receiver.drain();
    }
    expect(got).toBe(datagrams.length);
    dev.receiver.settle();
    return tun.drain();
  };
  const tags = (pkts: Uint8Array[]) => pkts.map((p) => p[20]);

  const kp1 = session(performance.now());
  const m1 = seal(aead, xp, kp1, ipPacket(1));
  const forged = seal(aead, xp, kp1, ipPacket(2));
  forged[40] ^= 1;
  const m3 = seal(aead, xp, kp1, ipPacket(3));
  expect(tags(await deliverBusy([m1, forged, m3, m1]))).toEqual([1, 3]); // the second m1 is a replay

  // A forged packet with a counter far ahead moved nothing: the next genuine ones still pass (§5.4.6).
  const far = seal(aead, xp, kp1, ipPacket(4));
  far.set([0, 0, 0, 0, 0, 1, 0, 0], 8); // counter 2^40 (below REJECT_AFTER_MESSAGES), so the tag no longer matches
  expect(tags(await deliverBusy([far, seal(aead, xp, kp1, ipPacket(5))]))).toEqual([5]);

  // The workers' table lost this session's key (as when it cannot grow): its packets come back not opened and are
  // opened on this thread, once each.
  const kp2 = session(performance.now() + 6_000); // x initiates at most every REKEY_TIMEOUT (§6.1)
  workers.removed(kp2.remoteIndex);
  const m6 = seal(aead, xp, kp2, ipPacket(6));
  expect(tags(await deliverBusy([m6, seal(aead, xp, kp2, ipPacket(7)), m6]))).toEqual([6, 7]);
});
