// The outer UDP path off the happy path (issue 10): GRO bursts larger than one receive call, sends that meet a full
// socket buffer, sticky source addresses that outlive what made them valid, and endpoint re-sets. Unit tests go
// through the native library on real loopback sockets; the rest through real daemons in namespaces of our own.
import { describe, expect, test } from "bun:test";
import { Udp } from "../../src/device/udp.ts";
import { EP_SIZE, Endpoint } from "../../src/device/endpoint.ts";
import { STRIDE } from "../../src/device/batch.ts";
import { join } from "node:path";
import { Sender } from "../../src/device/send.ts";
import { loadAead } from "../../src/crypto/aead.ts";
import { ROOT, Scope, sh, tag } from "../helpers/net.ts";

// As the receive path (src/device/receive.ts): 64 datagrams and 1,024 packets per call.
const MSGS = 64;
const PKTS = 1024;

describe("UDP receive: GRO bursts", () => {
  test("30 coalesced datagrams of 64 segments queued at once: every segment comes out, in order", () => {
    const rx = Udp.open(0, { gso: true, gro: true });
    const tx = Udp.open(0, { gso: true, gro: false });
    try {
      expect(rx.gro).toBe(true);
      // 30 × 64 segments of 1,000 bytes: each GSO send is one datagram, which loopback hands over coalesced.
      const DGRAMS = 30, SEGS = 64, SIZE = 1000, N = DGRAMS * SEGS;
      const buf = new Uint8Array(N * SIZE);
      const offs = new Uint32Array(N), lens = new Uint32Array(N);
      const eps = new Uint8Array(N * EP_SIZE);
      const to = Endpoint.fromAddress("127.0.0.1", rx.port, 4);
      for (let i = 0; i < N; i++) {
        offs[i] = i * SIZE;
        lens[i] = SIZE;
        new DataView(buf.buffer).setUint32(i * SIZE, i);
        eps.set(to.rec, i * EP_SIZE);
      }
      // One datagram per send call, so that the whole burst waits in the socket before the first receive.
      for (let d = 0; d < DGRAMS; d++) {
        const s = d * SEGS;
        expect(tx.sendBatch(buf, offs.subarray(s, s + SEGS), lens.subarray(s, s + SEGS), eps.subarray(s * EP_SIZE), SEGS)).toBe(SEGS);
      }
      const rbuf = new Uint8Array(MSGS * STRIDE);
      const rOffs = new Uint32Array(PKTS), rLens = new Uint32Array(PKTS), rEps = new Uint8Array(PKTS * EP_SIZE);
      const state = Udp.newReceiveState();
      const seen: number[] = [];
      let coalesced = false;
      for (let calls = 0; calls < 200; calls++) {
        const n = rx.recvBatch(rbuf, STRIDE, MSGS, rOffs, rLens, rEps, PKTS, state);
        if (n === 0) break;
        for (let k = 0; k < n; k++) {
          expect(rLens[k]).toBe(SIZE);
          expect(rEps[k * EP_SIZE]).toBe(4);
          seen.push(new DataView(rbuf.buffer).getUint32(rOffs[k]!));
          if (k > 0 && rOffs[k]! - rOffs[k - 1]! === SIZE) coalesced = true;
        }
      }
      expect(coalesced).toBe(true); // segments of one datagram sit back to back: GRO was in play
      expect(seen.length).toBe(N);
      expect(seen).toEqual(Array.from({ length: N }, (_, i) => i));
    } finally {
      rx.close();
      tx.close();
    }
  });
});

describe("UDP send: a full socket buffer", () => {
  test.skipIf(!ROOT)("a batch larger than the send buffer waits for room instead of dropping its tail", async () => {
    const scope = new Scope();
    try {
      const ns = await scope.netns(`bwgsnd${tag()}`);
      // A 1 Gbit/s token bucket on loopback: queued packets hold send-buffer room (8 MiB, zig/src/udp.zig) until they leave.
      await sh(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1gbit", "burst", "128k", "limit", "64mb"]);
      const N = 16_000, SIZE = 1200; // 19 MB in one call: the kernel doubles the 8 MiB to 16
      const r = await sh(["ip", "netns", "exec", ns, process.execPath, join(import.meta.dir, "udp-burst.ts"), "127.0.0.1", "9", String(N), String(SIZE)], { timeoutMs: 60_000 });
      expect(JSON.parse(r.stdout.trim())).toEqual({ sent: N });
    } finally {
      scope.close();
    }
  }, 90_000);
});

describe("send path: a batch that fails after sealing", () => {
  test("is never sent again by a later flush (no counter is used twice)", () => {
    // The Sender against a device of its own: a real AEAD, one peer with a session, and a UDP socket that fails
    // once after the batch was sealed (any exception between sealing and the next batch).
    const sendKey = new Uint8Array(32).fill(7);
    const kp = { remoteIndex: 0x01020304, sendKey, sendCounter: 0 };
    const noise = {
      sendingKeypair: () => kp,
      reserveCounters: (k: typeof kp, n: number) => { const c = k.sendCounter; k.sendCounter += n; return c; },
      packetSent: () => {},
      wantHandshake: () => {},
    };
    const peer = { noise, endpoint: Endpoint.fromAddress("127.0.0.1", 9, 4), staged: { length: 0 }, txBytes: 0 };
    const datagrams: Uint8Array[] = [];
    let failNext = true;
    const udp = {
      sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, _eps: Uint8Array, n: number): number {
        if (failNext) { failNext = false; throw new Error("send failed after sealing"); }
        for (let i = 0; i < n; i++) datagrams.push(buf.slice(offs[i]!, offs[i]! + lens[i]!));
        return n;
      },
    };
    const dev = { aead: loadAead(), udp, mtu: 1420, touch: () => {} };
    const sender = new Sender(dev as never);
    expect(() => sender.sendKeepalive(peer as never, 0)).toThrow("send failed after sealing");
    sender.sendKeepalive(peer as never, 1);
    sender.sendKeepalive(peer as never, 2);
    // Only the two later keepalives leave, each a transport message (§5.4.6) with its own counter.
    expect(datagrams.map((d) => [d[0], d.length, Number(new DataView(d.buffer).getBigUint64(8, true))])).toEqual([[4, 32, 1], [4, 32, 2]]);
  });
});
