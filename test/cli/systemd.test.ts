// The systemd units in src/systemd/: `systemd-analyze verify` accepts them, and — as root, without systemd running —
// their own ExecStart/ExecReload/ExecStop lines, with the standalone executable (dist/bunwg) as the service binary
// and only the capabilities of their CapabilityBoundingSet and NoNewPrivileges, bring the seed's EXAMPLES up from
// hostname.if files, re-apply them keeping the session, and take them down. Each capability of the set is needed:
// without it, the start fails and leaves nothing behind.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { linkExists, socketExists, udpPortFree } from "../support/net.ts";
import { type RunOptions, hasCommand, run, shell, runSync } from "../support/process.ts";
import { REPO, WG_TS, daemonEnv, isRoot, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
import { socketPath } from "../../src/uapi/socket.ts";
// A program run as the CLI tests run one: from the repository, with the daemon choice, whatever its exit code.
const runIn = (cmd: string[], opts: RunOptions = {}) => run(cmd, { check: false, cwd: REPO, ...opts, env: { ...daemonEnv, ...opts.env } });

setDefaultTimeout(120_000);

const UNIT_DIR = join(REPO, "src", "systemd");
const BINARY = "/usr/local/bin/bunwg"; // where README installs dist/bunwg
const dir = mkdtempSync(join(tmpdir(), "bunwg-systemd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Stands in for the installed executable where only its existence matters (systemd-analyze verify).
const wrapper = join(dir, "bunwg-source");
writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(WG_TS)} "$@"\n`);
chmodSync(wrapper, 0o755);
// The service binary itself, as README installs it: `bun run compile`'s dist/bunwg, copied out alone.
const serviceBinary = join(dir, "bunwg");

function unitText(name: string): string {
  return readFileSync(join(UNIT_DIR, name), "utf8");
}

/** [Service] settings of a unit, each key with its values in order. */
function serviceSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) section = line;
    else if (section === "[Service]") {
      const eq = line.indexOf("=");
      const key = line.slice(0, eq);
      out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
    }
  }
  return out;
}

describe("src/systemd units", () => {
  test("name the installed executable, netstart, a restart policy and the capabilities", () => {
    for (const name of ["bunwg@.service", "bunwg-netstart.service"]) {
      const s = serviceSettings(unitText(name));
      expect(s.get("ExecStart")![0]).toStartWith(`${BINARY} netstart`);
      expect(s.get("Restart")).toEqual(["on-failure"]);
      expect(s.get("Environment")).toEqual(["BUNWG_CONFDIR=/etc/bunwg"]);
      expect(s.get("CapabilityBoundingSet")![0].split(/\s+/).sort()).toEqual(["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]);
      expect(s.get("NoNewPrivileges")).toEqual(["yes"]);
      // A private mount namespace would hide the rdomain namespaces (bind mounts in /run/netns) from the system.
      for (const k of ["PrivateTmp", "ProtectSystem", "ProtectHome", "PrivateMounts", "ReadOnlyPaths"]) expect(s.has(k)).toBe(false);
    }
    expect(serviceSettings(unitText("bunwg@.service")).get("ExecStart")).toEqual([`${BINARY} netstart %i`]);
  });

  test.skipIf(!hasCommand("systemd-analyze"))("systemd-analyze verify accepts both, with nothing to warn about", async () => {
    // verify checks that ExecStart's program exists: point the copies at the stand-in.
    const copies = [
      ["bunwg@.service", "bunwg@wg0.service"],
      ["bunwg-netstart.service", "bunwg-netstart.service"],
    ].map(([from, to]) => {
      const p = join(dir, to!);
      writeFileSync(p, unitText(from!).replaceAll(BINARY, wrapper));
      return p;
    });
    const r = await runIn(["systemd-analyze", "verify", ...copies]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // And it does complain about a broken unit (so the check above can fail).
    const bad = join(dir, "bunwg-bad.service");
    writeFileSync(bad, unitText("bunwg-netstart.service").replaceAll(BINARY, wrapper).replace("Type=oneshot", "Type=oneshoot"));
    expect((await runIn(["systemd-analyze", "verify", bad])).stderr).toContain("oneshoot");
  });
});

/** A command line of a unit (`-` prefix dropped, %i filled in, the stand-in for the executable) run with only the
 *  unit's capabilities and no new privileges, as systemd would run it. */
async function runUnitLine(line: string, ifname: string, caps: string[], confdir: string) {
  const argv = line.replace(/^-/, "").replaceAll("%i", ifname).replaceAll(BINARY, serviceBinary).split(/\s+/);
  const bounding = ["-all", ...caps.map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`)].join(",");
  return runIn(["setpriv", "--bounding-set", bounding, "--inh-caps", "-all", "--no-new-privs", "--", ...argv], {
    env: { BUNWG_CONFDIR: confdir },
    timeoutMs: 90_000,
  });
}

async function privilegedPort(not: number[] = []): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 600 + Math.floor(Math.random() * 400);
    if (!not.includes(p) && (await udpPortFree(p))) return p;
  }
  throw new Error("no free UDP port below 1024");
}

describe.skipIf(!isRoot || !hasCommand("setpriv"))("the units' command lines with the units' capabilities", () => {
  const id = uniqueTag();
  const scope = new Scope();
  beforeAll(async () => {
    const r = await runIn([process.execPath, "run", "compile"], { cwd: REPO, timeoutMs: 170_000 });
    if (r.code !== 0) throw new Error(`bun run compile failed:\n${r.stdout}${r.stderr}`);
    copyFileSync(join(REPO, "dist", "bunwg"), serviceBinary);
    chmodSync(serviceBinary, 0o755);
  });
  afterAll(async () => {
    await scope.close();
  });
  const netstartUnit = serviceSettings(unitText("bunwg-netstart.service"));
  const template = serviceSettings(unitText("bunwg@.service"));
  const caps = template.get("CapabilityBoundingSet")![0].split(/\s+/);

  test("netstart's ExecStart brings up the seed's EXAMPLES (rdomain, ports < 1024); the template reloads and stops them", async () => {
    const [if1, if2, ns1, ns2] = [`wgsa${id}`, `wgsb${id}`, `bwsdna${id}`, `bwsdnb${id}`] as const;
    scope.interface(if1); scope.interface(if2);
    scope.track(ns1); scope.track(ns2);
    const p1 = await privilegedPort();
    const p2 = await privilegedPort([p1]);
    const key = () => {
      const priv = shell("wg genkey").stdout.trim();
      return { priv, pub: shell(`echo ${priv} | wg pubkey`).stdout.trim() };
    };
    const [k1, k2] = [key(), key()];
    const conf = mkdtempSync(join(dir, "etc-"));
    writeFileSync(join(conf, `hostname.${if1}`), `wgport ${p1} wgkey ${k1.priv} rdomain ${ns1}\nwgpeer ${k2.pub} wgendpoint 127.0.0.1 ${p2} wgaip 192.168.5.2/32\ninet 192.168.5.1 255.255.255.0\n`, { mode: 0o600 });
    writeFileSync(join(conf, `hostname.${if2}`), `wgport ${p2} wgkey ${k2.priv} rdomain ${ns2}\nwgpeer ${k1.pub} wgendpoint 127.0.0.1 ${p1} wgaip 192.168.5.1/32\ninet 192.168.5.2/24\n`, { mode: 0o600 });

    const start = await runUnitLine(netstartUnit.get("ExecStart")![0], "", caps, conf);
    expect(start.stderr).toBe("");
    expect(start.code).toBe(0);
    expect(linkExists(if1, ns1) && linkExists(if2, ns2)).toBe(true);
    // The daemon is the service binary, bounded to the unit's capabilities (12 NET_ADMIN, 10 NET_BIND_SERVICE, 21 SYS_ADMIN).
    const pid = runSync(["ss", "-xlpnH", "src", socketPath(if1)], { check: false }).stdout.match(/pid=(\d+)/)?.[1];
    expect(pid).toBeDefined();
    expect(shell(`readlink /proc/${pid}/exe`).stdout.trim()).toBe(serviceBinary);
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^CapBnd:\s+0*201400$/m);
    const ping = () => shell(`ip netns exec ${ns1} ping -c 2 -i 0.2 -W 3 192.168.5.2`).code === 0;
    expect(ping()).toBe(true);
    const handshake = () => shell(`wg show ${if1} latest-handshakes`).stdout.trim();
    const before = handshake();

    await Bun.sleep(1100);
    const reload = await runUnitLine(template.get("ExecReload")![0], if1, caps, conf);
    expect(reload.stderr).toBe("");
    expect(reload.code).toBe(0);
    expect(ping()).toBe(true);
    expect(handshake()).toBe(before);

    for (const ifname of [if1, if2]) {
      const stop = await runUnitLine(template.get("ExecStop")![0], ifname, caps, conf);
      expect(stop.stderr).toBe("");
      expect(stop.code).toBe(0);
      expect(socketExists(ifname)).toBe(false);
    }
  });

  test("each capability of the set is needed: without it the start fails and leaves nothing behind", async () => {
    for (const missing of caps) {
      const ifname = `wgsc${missing.length}${id}`;
      const ns = `bwsdc${missing.length}${id}`;
      scope.interface(ifname);
      scope.track(ns);
      const conf = mkdtempSync(join(dir, "etc-"));
      const port = await privilegedPort();
      writeFileSync(join(conf, `hostname.${ifname}`), `wgport ${port} wgkey ${shell("wg genkey").stdout.trim()} rdomain ${ns}\ninet 10.66.0.1/24\n`, { mode: 0o600 });
      const r = await runUnitLine(template.get("ExecStart")![0], ifname, caps.filter((c) => c !== missing), conf);
      expect(r.code, `without ${missing}`).toBe(1);
      expect(r.stderr).toContain(`hostname.${ifname}`);
      expect(socketExists(ifname)).toBe(false);
      expect(linkExists(ifname) || linkExists(ifname, ns)).toBe(false);
    }
  });
});
