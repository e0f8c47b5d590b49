// The send path looks a peer's session and key slot up once per run of packets to it within a TUN batch
// (src/device/send.ts add, "one lookup per run"), and the receive path a session's key slot (receive.ts process). A
// batch whose packets alternate between two peers in runs of every length must still give each packet its own peer's
// endpoint, receiver index, key and next counter (§5.4.6): every datagram opens at the right peer, in order, with the
// counters of each session consecutive; and the same pattern received is opened and delivered whole, in order.
// Device level, in memory.
import { afterEach, expect, test } from "bun:test";
import { loadAead } from "../src/crypto/aead.ts";
import type { Device } from "../src/device/device.ts";
import { Endpoint } from "../src/device/endpoint.ts";
import { ipv4 } from "../src/device/warmup.ts";
import { readCounter, readIndex } from "../src/noise/index.ts";
import { keyToHex } from "../src/text/codec.ts";
import { open, seal } from "./noise/helpers.ts";
import { configure, memoryDevice, remoteEngine } from "./support/device.ts";
import { MemoryTun } from "./support/tuntest.ts";

let dev: Device | null = null;
afterEach(() => {
  dev?.close();
  dev = null;
});

test("batches alternating between two peers: each packet sealed for its own peer and opened with its own key", () => {
  const aead = loadAead();
  const tun = new MemoryTun("runs0");
  const made = memoryDevice("runs0", aead, { tun });
  dev = made.dev;
  const bind = made.bind;
  const peers = [
    { addr: [10, 9, 0, 2], endpoint: "127.0.0.2:40002" },
    { addr: [10, 9, 0, 3], endpoint: "127.0.0.3:40003" },
  ].map((p) => ({ ...p, engine: remoteEngine(aead) }));
  const lines = [`private_key=${keyToHex(crypto.getRandomValues(new Uint8Array(32)))}`];
  for (const p of peers) lines.push(`public_key=${keyToHex(p.engine.publicKey!)}`, `endpoint=${p.endpoint}`, `allowed_ip=${p.addr.join(".")}/32`);
  configure(dev, lines);
  dev.setUp(true);

  // The device initiates to each peer (§5.4.2), so that it may send at once (§5.4.5).
  const now = performance.now();
  const SRC = new Uint8Array([127, 0, 0, 1, 0x9c, 0x40]);
  const remotes = peers.map((p) => p.engine.addPeer(dev!.engine.publicKey!)); // the device as each peer knows it
  for (const p of peers) {
    const ours = dev.peers.get(keyToHex(p.engine.publicKey!))!;
    const response = p.engine.consumeHandshake(now, ours.noise.createInitiation(now)!, SRC, false);
    if (response.kind !== "response") throw new Error(`handshake at the peer: ${response.kind}`);
    expect(dev.engine.consumeHandshake(now, response.packet, SRC, false).kind).toBe("established");
  }

  // Runs of 1, 2, 3, … packets to one peer, then the other: 120 packets, each carrying its number.
  const order: number[] = [];
  for (let run = 1, who = 0; order.length < 120; run++, who ^= 1) for (let k = 0; k < run && order.length < 120; k++) order.push(who);
  const packets = order.map((who, j) => {
    const p = ipv4([10, 9, 0, 1], peers[who]!.addr, 100, 17);
    p[20] = j;
    return p;
  });
  tun.inject(...packets);
  dev.sender.drainTun();

  expect(bind.sent.length).toBe(packets.length);
  const counters = new Map<number, number[]>();
  bind.sent.forEach((d, j) => {
    const p = peers[order[j]!]!;
    expect(new Endpoint(d.ep, 0).toString()).toBe(p.endpoint);
    const index = readIndex(d.bytes, 4);
    counters.set(index, [...(counters.get(index) ?? []), readCounter(d.bytes)]);
    const plain = open(aead, p.engine, now, d.bytes);
    expect(plain).not.toBeNull();
    expect(plain![20]).toBe(j);
    expect([...plain!.subarray(16, 20)]).toEqual(p.addr);
  });
  expect(counters.size).toBe(2);
  for (const [, cs] of counters) expect(cs).toEqual(cs.map((_, i) => cs[0]! + i));

  // Back: the peers' sessions are confirmed by what they received; the same runs, one receive batch.
  const from = peers.map((p) => Endpoint.fromAddress(p.endpoint.split(":")[0]!, Number(p.endpoint.split(":")[1]), 4).rec);
  order.forEach((who, j) => {
    const p = peers[who]!;
    const ours = remotes[who]!;
    const back = ipv4(p.addr, [10, 9, 0, 1], 112, 17);
    back[20] = j;
    bind.deliver(seal(aead, ours, ours.sendingKeypair(now)!, back), from[who]!);
  });
  dev.receiver.drain();
  expect(tun.written.map((w) => w[20])).toEqual(order.map((_, j) => j));
});
