// Run by session-index.test.ts in a process of its own, so that JavaScriptCore's compiled code and profiles are this
// run's alone. A device (in-memory TUN and UDP) receives a peer's transport messages: first under a session whose
// index is below 2^31 until the optimising tier has compiled the receive path, then under a session whose index is
// ≥ 2^31. Prints what that path's compilations were, as JSON.
import { numberOfDFGCompiles, reoptimizationRetryCount } from "bun:jsc";
import { loadAead } from "../../src/crypto/aead.ts";
import { Endpoint } from "../../src/device/endpoint.ts";
import { Receiver } from "../../src/device/receive.ts";
import type { Keypair } from "../../src/noise/index.ts";
import { keyToHex } from "../../src/text/codec.ts";
import { seal } from "../noise/helpers.ts";
import { configure, memoryDevice, remoteEngine } from "../support/device.ts";
import { MemoryTun } from "../support/tuntest.ts";

/** The high bit of the device's next session indices (an index is a 4-byte draw, noise/indextable.ts). */
let highIndex = false;
const random = (out: Uint8Array): void => {
  crypto.getRandomValues(out);
  if (out.length === 4) out[3] = highIndex ? out[3] | 0x80 : out[3] & 0x7f;
};

const aead = loadAead();
const tun = new MemoryTun("idx0");
const { dev, bind } = memoryDevice("idx0", aead, { tun, random });
const x = remoteEngine(aead);
configure(dev, [
  `private_key=${keyToHex(crypto.getRandomValues(new Uint8Array(32)))}`,
  `public_key=${keyToHex(x.publicKey!)}`,
  "allowed_ip=10.9.0.2/32",
]);
const xp = x.addPeer(dev.engine.publicKey!);
const FROM = Endpoint.fromAddress("127.0.0.1", 40001, 4);
const SRC = new Uint8Array([127, 0, 0, 1, 0x9c, 0x41]);

/** x initiates, the device answers: x's new session, which names the device's new index. */
function session(now: number): Keypair {
  const out = dev.engine.consumeHandshake(now, xp.createInitiation(now)!, SRC, false);
  if (out.kind !== "response") throw new Error(`handshake: ${out.kind}`);
  if (x.consumeHandshake(now, out.packet, SRC, false).kind !== "established") throw new Error("no session at x");
  return xp.sendingKeypair(now)!;
}

const packet = new Uint8Array(64);
packet.set([0x45, 0, 0, 64, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 2, 10, 9, 0, 1]);
/** 64 transport messages under kp, received the way the data path receives them; returns how many reached the TUN. */
function round(kp: Keypair): number {
  for (let i = 0; i < 64; i++) bind.deliver(seal(aead, xp, kp, packet), FROM.rec);
  tun.written.length = 0;
  dev.receiver.drain();
  return tun.written.length;
}

const process = (Receiver.prototype as unknown as { process: () => void }).process;
let delivered = 0, rounds = 0;
const small = session(performance.now());
// Until the optimising tier (on a compiler thread) has compiled the receive path for this session: at most 10 s.
for (const until = performance.now() + 10_000; numberOfDFGCompiles(process) === 0 && performance.now() < until; rounds++) delivered += round(small);
const compiled = numberOfDFGCompiles(process);
highIndex = true;
const large = session(performance.now() + 6_000); // x initiates at most every REKEY_TIMEOUT (5 s, §6.1)
let largeDelivered = 0;
for (let i = 0; i < 10 * rounds; i++) largeDelivered += round(large);
console.log(JSON.stringify({
  smallIndex: small.remoteIndex, largeIndex: large.remoteIndex, rounds, delivered, largeDelivered,
  compiled, compiledAfter: numberOfDFGCompiles(process), retries: reoptimizationRetryCount(process),
}));
dev.close();
