// wg(4)'s EXAMPLES script, run as written with only these substitutions: `ifconfig` → `bun run wg.ts ifconfig`,
// wg1/wg2 → unique interface names, `rdomain 1/2` → unique network namespaces, ports 111/222 → free ports only if
// those are taken, and `route -T1 exec ping` → `ip netns exec NS1 ping -c …`.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, udpPortFree } from "../support/net.ts";
import { type RunOptions, run, shell } from "../support/process.ts";
import { REPO, daemonEnv, daemonName, isRoot, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";
// A program run as the CLI tests run one: from the repository, with the daemon choice, whatever its exit code.
const runIn = (cmd: string[], opts: RunOptions = {}) => run(cmd, { check: false, cwd: REPO, ...opts, env: { ...daemonEnv, ...opts.env } });

setDefaultTimeout(90_000);

// Copied from /work/shared/seed/000_7f7844bc9e545267.txt (EXAMPLES); the first test checks it is verbatim.
const SEED_SCRIPT = `#!/bin/sh
ifconfig wg1 create wgport 111 wgkey \`openssl rand -base64 32\` rdomain 1
ifconfig wg2 create wgport 222 wgkey \`openssl rand -base64 32\` rdomain 2
PUB1="\`ifconfig wg1 | grep 'wgpubkey' | cut -d ' ' -f 2\`"
PUB2="\`ifconfig wg2 | grep 'wgpubkey' | cut -d ' ' -f 2\`"
ifconfig wg1 wgpeer $PUB2 wgendpoint 127.0.0.1 222 wgaip 192.168.5.2/32
ifconfig wg2 wgpeer $PUB1 wgendpoint 127.0.0.1 111 wgaip 192.168.5.1/32
ifconfig wg1 192.168.5.1/24
ifconfig wg2 192.168.5.2/24
`;

const SEED_FILES = [join(REPO, "..", "shared", "seed", "000_7f7844bc9e545267.txt"), "/work/shared/seed/000_7f7844bc9e545267.txt"];

const id = uniqueTag();
const IF1 = `bwsa${id}`;
const IF2 = `bwsb${id}`;
const NS1 = `bwsns1${id}`;
const NS2 = `bwsns2${id}`;
const scope = new Scope();
scope.interface(IF1); scope.interface(IF2);
scope.track(NS1); scope.track(NS2);

describe.skipIf(!isRoot)(`wg(4) EXAMPLES, verbatim, against ${daemonName}`, () => {
  afterAll(async () => {
    await scope.close();
  });

  test("the script here is the seed's, word for word", () => {
    const seedPath = SEED_FILES.find((p) => {
      try {
        readFileSync(p);
        return true;
      } catch {
        return false;
      }
    });
    if (!seedPath) {
      console.error("[seed-example] seed man page not found; the verbatim check is skipped");
      return;
    }
    const norm = (s: string) => s.replace(/\s+/g, " ").trim();
    expect(norm(readFileSync(seedPath, "utf8"))).toContain(norm(SEED_SCRIPT));
  });

  test("runs; the ping crosses; both UDP sockets listen in the default namespace", async () => {
    const p1 = (await udpPortFree(111)) ? 111 : await freePort();
    let p2 = (await udpPortFree(222)) ? 222 : await freePort();
    while (p2 === p1) p2 = await freePort();
    const script = SEED_SCRIPT.replace(/\bifconfig /g, "bun run wg.ts ifconfig ")
      .replace(/\bwg1\b/g, IF1)
      .replace(/\bwg2\b/g, IF2)
      .replace(/rdomain 1$/m, `rdomain ${NS1}`)
      .replace(/rdomain 2$/m, `rdomain ${NS2}`)
      .replace(/\b111\b/g, String(p1))
      .replace(/\b222\b/g, String(p2));
    const result = await runIn(["sh", "-e", "-c", script], { env: daemonEnv, timeoutMs: 60_000 });
    if (result.code !== 0) console.error(result.stdout, result.stderr);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");

    // route -T1 exec ping 192.168.5.2
    const ping = shell(`ip netns exec ${NS1} ping -c 3 -i 0.2 -W 3 192.168.5.2`);
    if (ping.code !== 0) console.error(ping.stdout, ping.stderr);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toMatch(/3 received/);

    // netstat -ln: the tunnel's UDP sockets are in the default namespace, not in the interfaces' ones.
    const ss = shell("ss -ulnH").stdout;
    expect(ss).toMatch(new RegExp(`:${p1}\\s`));
    expect(ss).toMatch(new RegExp(`:${p2}\\s`));
    expect(shell(`ip netns exec ${NS1} ss -ulnH`).stdout).not.toMatch(new RegExp(`:(${p1}|${p2})\\s`));

    // Both ends saw traffic: a handshake and counted bytes.
    const st = await runIn([process.execPath, "wg.ts", "ifconfig", IF1, "--json"], { env: daemonEnv });
    const j = JSON.parse(st.stdout);
    expect(j.rdomain).toBe(NS1);
    expect(j.peers[0].lastHandshake).not.toBeNull();
    expect(j.peers[0].rx).toBeGreaterThan(0);
  });
});
