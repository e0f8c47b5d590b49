#!/usr/bin/env bun
// Denial of service with handshake initiations (whitepaper §5.3, §5.4.7): the highest flood of bogus initiations
// with a valid mac1 (anyone who knows a public key can make them) at which a legitimate peer still completes its
// handshake after one retry. Under load a responder answers such initiations with cookie replies instead of
// doing Diffie-Hellman; the legitimate peer's first initiation draws a cookie, its retry REKEY_TIMEOUT (5 s +
// ≤ 334 ms jitter) later carries a valid mac2 and is answered: ≈ 5.5 s. A peer that needs longer lost its retry.
//
// For each implementation under test (the responder D) and each flood rate, from the lowest up until one fails:
// a fresh D and a fresh newest-wireguard-go peer W (D does not know W's endpoint, so only W's initiation can bring
// the tunnel up), a flood generator in a separate process (sendmmsg through the Zig library, paced to the rate),
// and after 1 s of flood a ping from W's side whose first answer must come within LIMIT_S.
//
// Implementations: ours (this checkout), ours-before (the same at --before=REV, default the commit before the Zig
// XChaCha20-Poly1305: cookie replies sealed by @noble/ciphers), and the newest wireguard-go — all in the same run.
//
//   bun run bench/dos.ts [--rates=20000,40000,…] [--impl=ours,ours-before,wggo-latest] [--before=REV] [--append]
import { mkdtempSync, readFileSync, rmSync, symlinkSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsSuite } from "../src/crypto/suite.ts";
import { nobleXAead, zigXAead } from "../src/crypto/xchacha.ts";
import { loadNative } from "../src/native/lib.ts";
import type { XAead } from "../src/noise/crypto.ts";
import { Endpoint, EP_SIZE } from "../src/device/endpoint.ts";
import { Udp } from "../src/device/udp.ts";
import { LABEL_MAC1 } from "../src/noise/constants.ts";
import { labelKey } from "../src/noise/cookie.ts";
import { INITIATION } from "../src/noise/messages.ts";
import {
  appendResultsSection, cleanup, cpuSeconds, fmt, hex, keyPair, loadAverage, machineFacts, requireRoot, run, sleep, table, timestamp,
  type Cleanup,
} from "./lib/harness.ts";
import { IMPLEMENTATIONS, createInterface, runnableImpls, type Implementation } from "./lib/implementations.ts";
import { WG_ENV, addNamespace, freeUdpPort, moveIntoNamespace, wgConfig } from "./lib/pair.ts";

const REPO = join(import.meta.dir, "..");
const LIMIT_S = 7; // one retry: 5 s REKEY_TIMEOUT + ≤ 0.334 s jitter + the ping itself, with room for a busy machine
const WARMUP_MS = 1000;

// ---- the flood generator (child process): `bun bench/dos.ts --flood PORT RATE SECONDS PUBKEY_BASE64`
if (process.argv[2] === "--flood") {
  const [port, rate, seconds] = process.argv.slice(3, 6).map(Number) as [number, number, number];
  const pub = Uint8Array.from(Buffer.from(process.argv[6], "base64"));
  const suite = jsSuite();
  const mac1Key = labelKey(suite, LABEL_MAC1, pub);
  const N = 64; // datagrams per sendmmsg
  const POOL = 4096; // distinct initiations (random sender index, ephemeral, static, timestamp; no mac2)
  const pool = new Uint8Array(POOL * INITIATION.size);
  crypto.getRandomValues(pool.subarray(0, 65536));
  for (let o = 65536; o < pool.length; o += 65536) crypto.getRandomValues(pool.subarray(o, Math.min(pool.length, o + 65536)));
  for (let i = 0; i < POOL; i++) {
    const m = pool.subarray(i * INITIATION.size, (i + 1) * INITIATION.size);
    m.set([1, 0, 0, 0]);
    m.fill(0, INITIATION.mac2);
    suite.blake2s.mac(m.subarray(INITIATION.mac1, INITIATION.mac2), mac1Key, m.subarray(0, INITIATION.mac1));
  }
  const udp = Udp.open(0, { gso: false, gro: false }); // distinct datagrams, as many senders would make
  const ep = Endpoint.fromAddress("127.0.0.1", port, 4);
  const offs = new Uint32Array(N), lens = new Uint32Array(N).fill(INITIATION.size), eps = new Uint8Array(N * EP_SIZE);
  for (let i = 0; i < N; i++) eps.set(ep.rec, i * EP_SIZE);
  let sent = 0, next = 0;
  const t0 = performance.now();
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds) break;
    if (rate * elapsed - sent < N) {
      Bun.sleepSync(1); // ahead of the pace
      continue;
    }
    for (let i = 0; i < N; i++) {
      offs[i] = next * INITIATION.size;
      next = (next + 1) % POOL;
    }
    const n = udp.sendBatch(pool, offs, lens, eps, N);
    sent += n > 0 ? n : N; // a full socket buffer still counts as offered
  }
  const secs = (performance.now() - t0) / 1000;
  udp.close();
  process.stdout.write(JSON.stringify({ sent, seconds: secs }) + "\n");
  process.exit(0);
}

// ---- the benchmark
const args = process.argv.slice(2);
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const append = args.includes("--append");
const RATES = (arg("rates") ?? "20000,40000,80000,160000,320000").split(",").map(Number);
if (RATES.some((r) => !(r > 0))) throw new Error(`--rates: expected positive numbers, got "${arg("rates")}"`);
const BEFORE = arg("before") ?? "8f84fdc~1";
requireRoot("bench/dos.ts");

const progress = (s: string) => console.error(`[dos] ${s}`);

/** A copy of the tree at `rev` (git archive), sharing this checkout's packages and built library (a superset). */
function beforeCheckout(rev: string): Implementation {
  const dir = mkdtempSync(join(tmpdir(), "bunwg-before-"));
  cleanup.add(`checkout ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const tar = Bun.spawnSync(["sh", "-c", `git -C '${REPO}' archive '${rev}' | tar -x -C '${dir}'`], { stderr: "pipe" });
  if (tar.exitCode !== 0) throw new Error(`--before=${rev}: git archive failed: ${tar.stderr.toString().trim()}`);
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  cpSync(join(REPO, "zig", "zig-out"), join(dir, "zig", "zig-out"), { recursive: true });
  const commit = Bun.spawnSync(["git", "-C", REPO, "rev-parse", "--short", rev]).stdout.toString().trim();
  return {
    ...IMPLEMENTATIONS.ours!,
    name: "ours-before",
    command: ["bun", "run", join(dir, "wg.ts")],
    cwd: dir,
    version: async () => `bunwg at ${commit} (${rev}): cookie replies sealed by @noble/ciphers`,
  };
}

interface Trial { rate: number; achieved: number; drops: number; handshakeS: number; cpuShare: number }

function udpDrops(port: number): number {
  let drops = 0;
  for (const f of ["/proc/net/udp", "/proc/net/udp6"]) {
    for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 13 && parseInt(cols[1].split(":")[1], 16) === port) drops += Number(cols[cols.length - 1]);
    }
  }
  return drops;
}

async function trial(impl: Implementation, peer: Implementation, rate: number, parent: Cleanup): Promise<Trial> {
  const tag = hex(3);
  const scope = parent.child(`${impl.name} at ${rate}/s`);
  try {
    const dir = mkdtempSync(join(tmpdir(), `bdos${tag}-`));
    scope.add(`temporary directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    const net = `10.${parseInt(tag.slice(0, 2), 16)}.${parseInt(tag.slice(2, 4), 16)}`;
    const d = { ns: `bdos${tag}d`, ifname: `bdos${tag}d`, addr: `${net}.1`, port: 0, key: keyPair() };
    const w = { ns: `bdos${tag}w`, ifname: `bdos${tag}w`, addr: `${net}.2`, port: 0, key: keyPair() };
    for (const s of [d, w]) await addNamespace(s.ns, scope);
    const dIf = await createInterface(impl, d.ifname, scope, dir);
    await createInterface(peer, w.ifname, scope, dir);
    d.port = await freeUdpPort();
    do w.port = await freeUdpPort();
    while (w.port === d.port);
    const confs = [
      [d, wgConfig(d.key.priv, d.port, [{ pub: w.key.pub, allowed: [`${w.addr}/32`] }])],
      [w, wgConfig(w.key.priv, w.port, [{ pub: d.key.pub, endpoint: `127.0.0.1:${d.port}`, allowed: [`${d.addr}/32`] }])],
    ] as const;
    for (const [s, text] of confs) {
      const file = join(dir, `${s.ifname}.conf`);
      await Bun.write(file, text);
      await run(["wg", "setconf", s.ifname, file], { timeoutMs: 10_000, env: WG_ENV });
    }
    await moveIntoNamespace(impl, d.ifname, d.ns, 1420, d.addr);
    await moveIntoNamespace(peer, w.ifname, w.ns, 1420, w.addr);

    const floodSeconds = WARMUP_MS / 1000 + LIMIT_S + 1;
    const drops0 = udpDrops(d.port);
    const cpu0 = dIf.daemon ? cpuSeconds(dIf.daemon.pid) : 0;
    const gen = Bun.spawn([process.execPath, import.meta.path, "--flood", String(d.port), String(rate), String(floodSeconds), d.key.pub], {
      stdout: "pipe", stderr: "inherit",
    });
    scope.add("flood generator", () => gen.kill("SIGKILL"));
    const t0 = performance.now();
    await sleep(WARMUP_MS);
    const h0 = performance.now();
    const ping = await run(["ip", "netns", "exec", w.ns, "ping", "-n", "-c", "1", "-w", String(LIMIT_S), d.addr], { timeoutMs: (LIMIT_S + 5) * 1000, check: false });
    const handshakeS = ping.code === 0 ? (performance.now() - h0) / 1000 : Infinity;
    const out = JSON.parse((await new Response(gen.stdout).text()).trim() || "{}") as { sent?: number; seconds?: number };
    const wall = (performance.now() - t0) / 1000;
    const cpu = dIf.daemon ? cpuSeconds(dIf.daemon.pid) - cpu0 : NaN;
    return {
      rate,
      achieved: (out.sent ?? 0) / (out.seconds ?? 1),
      drops: udpDrops(d.port) - drops0,
      handshakeS,
      cpuShare: cpu / wall,
    };
  } finally {
    scope.close();
  }
}

const peer = IMPLEMENTATIONS["wggo-latest"];
if (peer.unavailable()) throw new Error(`the legitimate peer is the newest wireguard-go: ${peer.unavailable()}`);
const names = (arg("impl") ?? "ours,ours-before,wggo-latest").split(",");
const list = names.map((n) => (n === "ours-before" ? beforeCheckout(BEFORE) : IMPLEMENTATIONS[n] ?? (() => { throw new Error(`--impl: unknown "${n}"`); })()));
const { runnable, notes, versions } = await runnableImpls(list, "bench/dos.ts", progress);

// What one cookie reply's XChaCha20-Poly1305 costs with each backend (µs per seal and per open of a 16-byte cookie
// with a 16-byte AD, as §5.4.7 uses it), measured in this process before the floods.
function xaeadMicros(x: XAead): { seal: number; open: number } {
  const key = crypto.getRandomValues(new Uint8Array(32)), nonce = crypto.getRandomValues(new Uint8Array(24));
  const cookie = crypto.getRandomValues(new Uint8Array(16)), ad = crypto.getRandomValues(new Uint8Array(16));
  const sealed = new Uint8Array(32), out = new Uint8Array(16);
  // The best of 5 rounds: the machine is shared, and @noble's garbage may be collected during the next round.
  const time = (f: () => void) => {
    for (let i = 0; i < 2000; i++) f();
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      Bun.gc(true);
      const n = 20_000, t = performance.now();
      for (let i = 0; i < n; i++) f();
      best = Math.min(best, ((performance.now() - t) * 1000) / n);
    }
    return best;
  };
  const seal = time(() => x.seal(key, nonce, cookie, ad, sealed));
  const open = time(() => x.open(key, nonce, sealed, ad, out));
  return { seal, open };
}
const xaeadRows: string[][] = [];
for (const [name, make] of [["@noble/ciphers", nobleXAead], ["zig (zig/src/xchacha.zig)", () => zigXAead(loadNative())]] as const) {
  const r = xaeadMicros(make());
  xaeadRows.push([name, fmt(r.seal, 2), fmt(r.open, 2)]);
}
const xaeadTable = table(["XChaCha20-Poly1305", "µs per cookie seal", "µs per cookie open"], xaeadRows);
progress(`\n${xaeadTable}`);

const results = new Map<string, Trial[]>();
for (const impl of runnable) {
  const trials: Trial[] = [];
  results.set(impl.name, trials);
  for (const rate of RATES) {
    progress(`${impl.name}: ${rate} initiations/s…`);
    const t = await trial(impl, peer, rate, cleanup);
    trials.push(t);
    progress(`${impl.name}: offered ${fmt(t.achieved, 0)}/s, kernel dropped ${t.drops}, handshake ${Number.isFinite(t.handshakeS) ? `${fmt(t.handshakeS, 1)} s` : `none in ${LIMIT_S} s`}, daemon ${fmt(t.cpuShare * 100, 0)} % CPU`);
    if (!Number.isFinite(t.handshakeS)) break; // the next rate would fail too
  }
}

const held = (ts: Trial[]) => ts.filter((t) => Number.isFinite(t.handshakeS)).reduce((m, t) => Math.max(m, t.achieved), 0);
const rows: string[][] = [];
for (const [name, ts] of results) {
  for (const t of ts) {
    rows.push([name, fmt(t.rate, 0), fmt(t.achieved, 0), String(t.drops), Number.isFinite(t.handshakeS) ? `${fmt(t.handshakeS, 1)} s` : `none in ${LIMIT_S} s`, `${fmt(t.cpuShare * 100, 0)} %`]);
  }
}
const summary = [...results].map(([name, ts]) => [name, fmt(held(ts), 0), versions[name] ?? ""]);
const load = loadAverage();
const detail = table(["responder", "asked /s", "sent /s", "dropped by the kernel", "legitimate handshake + ping", "responder CPU"], rows);
const best = table(["responder", "highest flood /s with the handshake after one retry", "version"], summary);
console.log(xaeadTable);
console.log(best);
console.log(detail);
for (const n of notes) console.log(n);
if (append) {
  const m = await machineFacts();
  const body = [
    `### ${timestamp()} — ${m.cpu}, kernel ${m.kernel}, Bun ${m.bun}, load average ${load}`,
    "",
    "`bun run bench/dos.ts --append`: bogus initiations with a valid mac1 from 127.0.0.1 at a paced rate (one generator",
    `process, sendmmsg), the legitimate peer the newest wireguard-go; success = its first ping answered within ${LIMIT_S} s`,
    "(one cookie round and one REKEY_TIMEOUT retry). Rates double from the lowest until one fails. 2 CPUs shared by",
    "the generator, both daemons and the rest of the machine: the generator's own ceiling caps the highest rates.",
    "",
    best,
    "",
    detail,
    "",
    xaeadTable,
    ...notes.map((n) => `\n${n}`),
  ].join("\n");
  console.error(`appended to ${appendResultsSection("Denial of service", body)}`);
}
cleanup.close();
