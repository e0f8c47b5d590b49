// §6.3/§6.4: after 3 × REJECT_AFTER_TIME without a new session every key is erased. The shell's side of that
// timer action: packets staged for the peer go too (issue 10, item 8) — they were waiting for a session that is
// now gone, and held plaintext. Device level, on a fake clock with in-memory TUN and UDP stand-ins.
import { afterEach, expect, test } from "bun:test";
import { loadAead } from "../../src/crypto/aead.ts";
import type { Device } from "../../src/device/device.ts";
import { keyToHex } from "../../src/text/codec.ts";
import { ZERO_KEYS_AFTER } from "../../src/noise/constants.ts";
import { configure, memoryDevice, remoteEngine } from "../support/device.ts";

let dev: Device | null = null;
afterEach(() => dev?.close());

test("the zeroing timer action also drops the packets staged for the peer", () => {
  const aead = loadAead();
  dev = memoryDevice("zero0", aead).dev;
  const x = remoteEngine(aead);
  configure(dev, [
    `private_key=${keyToHex(crypto.getRandomValues(new Uint8Array(32)))}`,
    `public_key=${keyToHex(x.publicKey!)}`,
    "endpoint=127.0.0.1:40009",
    "allowed_ip=10.9.0.2/32",
  ]);
  const peer = dev.peers.get(keyToHex(x.publicKey!))!;

  // x initiates; the device answers: a session is derived at t0, which arms the erasure at t0 + ZERO_KEYS_AFTER.
  const t0 = performance.now();
  const init = x.addPeer(dev.engine.publicKey!).createInitiation(t0)!;
  expect(dev.engine.consumeHandshake(t0, init, new Uint8Array([127, 0, 0, 1, 0x9c, 0x49]), false).kind).toBe("response");
  expect(peer.noise.nextDeadline()).toBe(t0 + ZERO_KEYS_AFTER);

  // A packet waits for a session (the responder may not send before the initiator confirms, §5.4.5).
  const pkt = new Uint8Array(60).fill(0x45);
  peer.staged.push(pkt, 0, pkt.length);
  expect(peer.staged.length).toBe(1);

  dev.touch(peer);
  dev.runDueTimers(t0 + ZERO_KEYS_AFTER);
  expect(peer.noise.next).toBeNull(); // the keys are gone…
  expect(peer.staged.length).toBe(0); // …and so is what waited for them
});
