#!/usr/bin/env bun
// The long fuzzing run: ≥ 1,000,000 hostile messages against the protocol core (test/robust/fuzzer.ts) and a share
// of them through the daemon's inbound path (test/robust/receiver-fuzzer.ts). Prints cases/s, the outcome of every
// class of input, and exits 1 on any failure (an exception, an invalid message accepted, plaintext released,
// unbounded state). The speed baseline, measured in the same run: genuine handshakes per second (the most
// expensive message a responder processes).
//
//   bun run bench/fuzz.ts [--cases=1000000] [--receiver-cases=200000] [--seed=N] [--json]
import { loadAead } from "../src/crypto/aead.ts";
import { defaultSuite } from "../src/crypto/suite.ts";
import { Engine } from "../src/noise/index.ts";
import { type FuzzReport, Rng, WireFuzzer, summarise } from "../test/robust/fuzzer.ts";
import { ReceiverFuzzer } from "../test/robust/receiver-fuzzer.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const json = args.includes("--json");
const CASES = arg("cases", 1_000_000);
const RECEIVER_CASES = arg("receiver-cases", 200_000);
const SEED = arg("seed", Date.now() % 0x7fffffff);
const aead = loadAead();

/** Genuine handshakes (initiation consumed + response consumed) per second, for about a second. */
function handshakeRate(): number {
  const rng = new Rng(SEED);
  const mk = () => new Engine({ crypto: defaultSuite({ aead, random: rng.source() }), unixTimeOffset: 1.8e12 });
  const a = mk(), b = mk();
  a.setPrivateKey(rng.bytes(32));
  b.setPrivateKey(rng.bytes(32));
  const pa = a.addPeer(b.publicKey!);
  b.addPeer(a.publicKey!);
  const src = new Uint8Array(6);
  let now = 0, n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    now += 5_001;
    const init = pa.createInitiation(now)!;
    const r = b.consumeHandshake(now, init, src, false);
    if (r.kind !== "response" || a.consumeHandshake(now, r.packet, src, false).kind !== "established") throw new Error("baseline handshake failed");
    n++;
  }
  return (n * 1000) / (performance.now() - t0);
}

const baseline = handshakeRate();

// The core fuzzer in chunks, so progress shows and the heap is checked along the way.
const core = new WireFuzzer(SEED, aead);
let r: FuzzReport = core.run(0);
const CHUNK = 100_000;
for (let done = 0; done < CASES; done += CHUNK) {
  r = core.run(Math.min(CHUNK, CASES - done));
  if (!json) process.stderr.write(`\r  core: ${r.cases.toLocaleString()} cases, ${r.failures.length} failures`);
  if (r.failures.length > 0) break;
}
if (!json) process.stderr.write("\n");

const recv = new ReceiverFuzzer(SEED, aead);
await recv.setup();
const rr = recv.run(RECEIVER_CASES);
recv.close();

const coreRate = (r.cases * 1000) / r.ms;
const recvRate = (rr.cases * 1000) / rr.ms;
if (json) {
  console.log(JSON.stringify({ target: "core", seed: SEED, cases: r.cases, seconds: r.ms / 1000, casesPerSecond: coreRate,
    vsHandshakes: coreRate / baseline, failures: r.failures.length, genuineAccepted: r.genuineAccepted, heapGrowthBytes: r.heapGrowthBytes,
    maxIndices: r.maxIndices, classes: summarise(r) }));
  console.log(JSON.stringify({ target: "receiver", seed: SEED, cases: rr.cases, batches: rr.batches, seconds: rr.ms / 1000,
    casesPerSecond: recvRate, vsHandshakes: recvRate / baseline, failures: rr.failures.length, genuineDelivered: rr.genuineDelivered,
    spoofedSent: rr.spoofedSent, heapGrowthBytes: rr.heapGrowthBytes, maxIndices: rr.maxIndices }));
  console.log(JSON.stringify({ target: "baseline", handshakesPerSecond: baseline }));
} else {
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  console.log(`\nseed ${SEED}, AEAD ${aead.backend}; baseline: ${baseline.toFixed(0)} genuine handshakes/s\n`);
  console.log("| target | cases | seconds | cases/s | × handshakes/s | failures | genuine accepted | heap growth MiB | max indices |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  console.log(`| protocol core | ${r.cases} | ${(r.ms / 1000).toFixed(1)} | ${coreRate.toFixed(0)} | ${(coreRate / baseline).toFixed(1)} | ${r.failures.length} | ${r.genuineAccepted} | ${(r.heapGrowthBytes / 2 ** 20).toFixed(1)} | ${r.maxIndices} |`);
  console.log(`| inbound path (receive.ts) | ${rr.cases} | ${(rr.ms / 1000).toFixed(1)} | ${recvRate.toFixed(0)} | ${(recvRate / baseline).toFixed(1)} | ${rr.failures.length} | ${rr.genuineDelivered} | ${(rr.heapGrowthBytes / 2 ** 20).toFixed(1)} | ${rr.maxIndices} |`);
  console.log("\nprotocol core, by class of input:\n");
  console.log("| class | cases | outcomes |");
  console.log("|---|---:|---|");
  for (const row of summarise(r)) console.log(`| ${row.cls} | ${pad(row.cases, 7)} | ${row.outcomes} |`);
  console.log(`\ninbound path: ${rr.batches} batches, ${rr.outcomes.get("tun-writes") ?? 0} TUN writes (all genuine), ` +
    `${rr.spoofedSent} genuine packets with forbidden or malformed inner headers (none delivered), ${rr.outcomes.get("device-sends") ?? 0} datagrams sent back`);
}
for (const f of [...r.failures, ...rr.failures].slice(0, 10)) console.error("FAILURE", f);
process.exitCode = r.failures.length + rr.failures.length > 0 ? 1 : 0;
