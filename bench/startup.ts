#!/usr/bin/env bun
// Start-up benchmark: time from running `PROGRAM IFNAME` to its configuration socket accepting connections
// (/var/run/wireguard/IFNAME.sock), as a test suite or wg-quick sees it. Detached (the default invocation: the
// launcher returns once the daemon is ready) and in the foreground (-f), each implementation alternated round by
// round. Ours runs from source (`bun run wg.ts`), as the standalone executable (`bun run compile`, dist/bunwg), and as
// that executable built with Bun's bytecode compilation (`--bytecode --format=esm`, built here into a temporary
// directory: scripts/compile.ts does not use it yet).
//
//   bun run bench/startup.ts [--impl ours,ours-exe,ours-exe-bytecode,wggo-latest,wggo-debian,boringtun] [--repeat N]
//                            [--json] [--append]   (as root)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  appendResultsSection, cleanup, fmt, hex, loadAverage, machineFacts, median, percentile, requireRoot, run, runSync, sleep, stopProcess,
  stamp, table, timestamp, tunOwners,
} from "./lib/harness.ts";
import { IMPLEMENTATIONS } from "./lib/implementations.ts";
import { socketPath } from "../src/uapi/socket.ts";
import { writeCharts } from "./lib/svg.ts";

const { values: opt } = parseArgs({
  options: {
    impl: { type: "string", default: "ours,ours-exe,ours-exe-bytecode,wggo-latest,wggo-debian,boringtun" },
    repeat: { type: "string", default: "5" },
    svg: { type: "string" },
    json: { type: "boolean", default: false },
    append: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opt.help) {
  console.log("usage: bun run bench/startup.ts [--impl a,b,…] [--repeat N] [--svg PATH] [--json] [--append]");
  process.exit(0);
}
const ROUNDS = Number(opt.repeat);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 100) throw new Error(`--repeat: expected an integer 1–100, got "${opt.repeat}"`);
const out = (s: string) => (opt.json ? console.error(s) : console.log(s));
const progress = (s: string) => console.error(s);
requireRoot("bench/startup.ts");

const REPO = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "bns-"));
cleanup.add(`temporary directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));

type Program = { name: string; command: string[]; env: Record<string, string>; foreground: boolean; version: string };

// The standalone executable: dist/bunwg from `bun run compile`, or a bytecode build made here.
async function executable(bytecode: boolean): Promise<string | null> {
  if (!bytecode) {
    const exe = join(REPO, "dist", "bunwg");
    if (!existsSync(exe)) {
      progress("building dist/bunwg (bun run compile)…");
      await run([process.execPath, "run", join(REPO, "scripts", "compile.ts")], { timeoutMs: 300_000, cwd: REPO });
    }
    return exe;
  }
  const exe = join(dir, "bunwg-bytecode");
  progress("building the bytecode executable…");
  await run([process.execPath, "build", "--compile", "--bytecode", "--format=esm", "--target=bun-linux-x64-baseline", "--minify-syntax",
    join(REPO, "src", "cli", "compiledEntry.ts"), "--outfile", exe], { timeoutMs: 300_000, cwd: REPO });
  return exe;
}

const programs: Program[] = [];
const notes: string[] = [];
for (const name of opt.impl!.split(",").map((s) => s.trim()).filter(Boolean)) {
  let command: string[] | undefined, env: Record<string, string> = {}, version = "";
  if (name === "ours-exe" || name === "ours-exe-bytecode") {
    const exe = await executable(name === "ours-exe-bytecode");
    if (!exe) continue;
    command = [exe];
    env = { LOG_LEVEL: "error" };
    version = (await run([exe, "--version"], { timeoutMs: 10_000 })).stdout.trim();
  } else {
    const impl = IMPLEMENTATIONS[name];
    if (!impl?.command) throw new Error(`--impl: unknown implementation "${name}", expected ours, ours-exe, ours-exe-bytecode or one of ${Object.keys(IMPLEMENTATIONS).join(",")}`);
    const why = impl.unavailable();
    if (why) {
      notes.push(`${name} skipped: ${why}`);
      continue;
    }
    command = impl.command;
    env = impl.env ?? {};
    version = await impl.version();
  }
  for (const foreground of [false, true]) programs.push({ name: `${name}${foreground ? " -f" : ""}`, command, env, foreground, version });
}

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => done(false), 500);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

// Milliseconds from spawn to a connection accepted on the socket; everything it made is removed before returning.
async function once(p: Program): Promise<number> {
  const ifname = `bns${hex(3)}`;
  const sock = socketPath(ifname);
  const scope = cleanup.child(`${p.name} ${ifname}`);
  try {
    scope.add(`socket ${sock}`, () => rmSync(sock, { force: true }));
    scope.add(`log of ${ifname}`, () => rmSync(`/var/log/bunwg/${ifname}.log`, { force: true }));
    scope.add(`interface ${ifname}`, () => void runSync(["ip", "link", "del", ifname]));
    const t0 = performance.now();
    const child = Bun.spawn([...p.command, ...(p.foreground ? ["-f"] : []), ifname], {
      stdin: "ignore", stdout: "ignore", stderr: "ignore", env: { ...process.env, ...p.env },
    });
    scope.add(`${p.name} launcher`, () => { try { child.kill("SIGKILL"); } catch {} });
    const end = t0 + 20_000;
    for (;;) {
      if (existsSync(sock) && (await accepts(sock))) break;
      if (child.exitCode !== null && child.exitCode !== 0) throw new Error(`${p.name} ${ifname} exited with ${child.exitCode}`);
      if (performance.now() > end) throw new Error(`${p.name}: ${sock} not accepting within 20 s`);
      await sleep(1);
    }
    const ms = performance.now() - t0;
    for (const pid of tunOwners(ifname)) stopProcess(stamp(pid));
    return ms;
  } finally {
    scope.close();
  }
}

const loadBefore = loadAverage();
const times: Record<string, number[]> = {};
const failures: string[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const p of programs.map((_, i) => programs[(i + round - 1) % programs.length])) {
    try {
      const ms = await once(p);
      (times[p.name] ??= []).push(ms);
      progress(`round ${round}/${ROUNDS}: ${p.name} ${fmt(ms, 1)} ms`);
      if (opt.json) console.log(JSON.stringify({ bench: "startup", kind: "sample", impl: p.name, round, ms }));
    } catch (e) {
      failures.push(`${p.name} round ${round}: ${(e as Error).message}`);
      progress(`  FAILED: ${failures.at(-1)}`);
    }
    await sleep(200);
  }
}
cleanup.close();
const loadAfter = loadAverage();

const measured = programs.filter((p) => times[p.name]?.length);
const med = Object.fromEntries(measured.map((p) => [p.name, median(times[p.name])]));
const baseline = ["wggo-latest", "wggo-debian", "boringtun"].find((b) => med[b] !== undefined);
const rows = measured.map((p) => [p.name, fmt(med[p.name], 1), fmt(Math.min(...times[p.name]), 1), fmt(percentile(times[p.name], 90), 1),
  baseline ? fmt(med[p.name] / (p.foreground ? med[`${baseline} -f`] ?? med[baseline] : med[baseline]), 2) : "–"]);
const report = `Milliseconds from spawning \`PROGRAM [-f] IFNAME\` to the configuration socket accepting a connection; ${ROUNDS} round(s), ` +
  `alternated.\n\n` + table(["program", "median ms", "min ms", "p90 ms", baseline ? `/ ${baseline} (same mode)` : "ratio"], rows);
out("\n" + report);
for (const l of [...notes, ...failures]) out(`note: ${l}`);

const stampFile = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
const svgPath = opt.svg ?? (opt.append ? join(import.meta.dir, "charts", `startup-${stampFile}.svg`) : null);
if (svgPath && measured.length) {
  const names = [...new Set(measured.map((p) => p.name.replace(/ -f$/, "")))];
  writeCharts(svgPath, [{
    title: "Start-up: spawn to configuration socket ready", unit: "ms", groups: ["detached", "foreground (-f)"],
    series: names.map((n) => ({ name: n, values: [med[n] ?? null, med[`${n} -f`] ?? null] })), note: `medians of ${ROUNDS} round(s), ${timestamp()}`,
  }]);
  progress(`chart: ${svgPath}`);
}
if (opt.json) for (const p of measured) console.log(JSON.stringify({ bench: "startup", kind: "median", impl: p.name, version: p.version, ms: med[p.name] }));
if (opt.append) {
  const facts = await machineFacts();
  const versions = [...new Map(measured.map((p) => [p.name.replace(/ -f$/, ""), p.version])).entries()].map(([n, v]) => `${n} = ${v}`);
  const body = [
    `### ${timestamp()}`,
    "",
    `Machine: ${facts.cpu}; kernel ${facts.kernel}; Bun ${facts.bun}.`,
    `Programs: ${versions.join("; ")}.`,
    `1-minute load average ${loadBefore} before, ${loadAfter} after (2 CPUs shared with other work: figures are noisy).`,
    `Command: \`bun run bench/startup.ts --impl ${[...new Set(measured.map((p) => p.name.replace(/ -f$/, "")))].join(",")} --repeat ${ROUNDS}\``,
    ...(svgPath ? ["", `Chart: [${svgPath.split("/bench/")[1] ?? svgPath}](${svgPath.split("/bench/")[1] ?? svgPath})`] : []),
    "",
    report,
    ...[...notes, ...failures].map((l) => `\nNote: ${l}`),
  ].join("\n");
  progress(`appended to ${appendResultsSection("Start-up", body)}`);
}
if (measured.length === 0) process.exitCode = 1;
