// Secrets: a daemon at LOG_LEVEL=debug, configured with a private and a preshared key in every form (base64 files
// through wg(8), hex on the socket), fed requests that hold those keys in wrong forms, carrying traffic — and its
// log must hold no key nor any 20-character piece of one. Its socket and log are closed to other users.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { socketOwner, startDaemon, uapiRequest } from "../support/daemon.ts";
import { ping, pingUntil } from "../support/net.ts";
import { run, waitFor } from "../support/process.ts";
import { PEER_PROGRAM, WG_TS, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope, alive } from "../support/scope.ts";
import { SOCKET_DIR, socketPath } from "../../src/uapi/socket.ts";
import { keyFromBase64, keyToHex } from "../../src/text/codec.ts";
import { LOG_DIR } from "../../src/device/log.ts";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];

describe.skipIf(!isRoot)("secrets", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  test("no key reaches the debug log; socket 0600 and log 0600 in a 0700 directory, closed to other users", async () => {
    const t = uniqueTag();
    const dName = `bwr${t}s`, wName = `bwr${t}p`;
    const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
    const dV4 = `10.${n}.${m}.1`, wV4 = `10.${n}.${m}.2`;
    for (const ns of [dName, wName]) await scope.netns(ns);
    // Our daemon detached, as wg-quick starts it: its log goes to /var/log/bunwg.
    const logPath = `${LOG_DIR}/${dName}.log`;
    scope.add(() => Bun.spawnSync(["rm", "-f", logPath]));
    await run([process.execPath, WG_TS, dName], { env: { LOG_LEVEL: "debug" }, timeoutMs: 20_000 });
    const pid = await socketOwner(dName);
    expect(pid).toBeGreaterThan(0);
    scope.add(() => {
      if (alive(pid)) process.kill(pid, "SIGKILL");
      Bun.spawnSync(["ip", "-n", dName, "link", "del", dName], { stderr: "ignore" });
      Bun.spawnSync(["ip", "link", "del", dName], { stderr: "ignore" });
      Bun.spawnSync(["rm", "-f", socketPath(dName)]);
    });
    await startDaemon(scope, PEER_PROGRAM, wName);

    const dKey = genKey(), wKey = genKey();
    const psk = Bun.spawnSync(["wg", "genpsk"]).stdout.toString().trim();
    const secrets = [dKey.priv, keyToHex(keyFromBase64(dKey.priv)), psk, keyToHex(keyFromBase64(psk)), keyToHex(keyFromBase64(psk)).toUpperCase(), keyToHex(keyFromBase64(dKey.priv)).toUpperCase()];
    // base64 through wg(8) (which sends hex)…
    await wgTool(["set", dName, "private-key", scope.file("d.key", dKey.priv + "\n"), "listen-port", "0"]);
    await wgTool(["set", wName, "private-key", scope.file("w.key", wKey.priv + "\n"), "listen-port", "0"]);
    const port = async (i: string) => Number((await wgTool(["show", i, "listen-port"])).stdout.trim());
    const [dPort, wPort] = [await port(dName), await port(wName)];
    const pskFile = scope.file("psk", psk + "\n");
    await wgTool(["set", dName, "peer", wKey.pub, "preshared-key", pskFile, "endpoint", `127.0.0.1:${wPort}`, "allowed-ips", `${wV4}/32`]);
    await wgTool(["set", wName, "peer", dKey.pub, "preshared-key", pskFile, "endpoint", `127.0.0.1:${dPort}`, "allowed-ips", `${dV4}/32`]);
    // …hex on the socket, and the keys in wrong forms, each refused (and logged as refused).
    const wHex = keyToHex(keyFromBase64(wKey.pub)), privHex = keyToHex(keyFromBase64(dKey.priv)), pskHex = keyToHex(keyFromBase64(psk));
    const requests = [
      `set=1\nprivate_key=${privHex}\npublic_key=${wHex}\npreshared_key=${pskHex}\n\n`, // valid: the same again
      `set=1\nprivate_key=${dKey.priv}\n\n`, // base64 where hex belongs
      `set=1\nprivate_key=${privHex}0\n\n`, // one digit too many
      `set=1\npublic_key=${wHex}\npreshared_key=${pskHex.slice(1)}\n\n`, // one too few
      `set=1\npublic_key=${wHex}\npreshared_key=${psk}\n\n`,
      `set=1\nprivate_key ${privHex}\n\n`, // no "="
      `set=1\nprivatekey=${privHex}\n\n`, // unknown key
      `set=1\npublic_key=${wHex}\nendpoint=${pskHex}\n\n`, // a key in the wrong field
      `set=1\npublic_key=${wHex}\nallowed_ip=${psk}\n\n`,
      `get=1\nprivate_key=${privHex}\n\n`,
      `set=1\nprivate_key=${privHex}\0\n\n`,
      `private_key=${privHex}\n\n`, // no operation line: unknown operation
    ];
    const answers = [];
    for (const r of requests) answers.push((await uapiRequest(dName, r)).answer);
    expect(answers[0]).toBe("errno=0\n\n");
    for (const a of answers.slice(1)) expect(a).toMatch(/^errno=-?[1-9]\d*\n\n$/);

    // Traffic, handshakes and the runtime debug switch.
    for (const [i, a] of [[dName, dV4], [wName, wV4]] as const) {
      await run(["ip", "link", "set", i, "netns", i]);
      await run(["ip", "-n", i, "addr", "add", `${a}/24`, "dev", i]);
      await run(["ip", "-n", i, "link", "set", i, "up"]);
    }
    await pingUntil(wName, dV4);
    expect(await ping(dName, wV4)).toBe(true);
    expect((await uapiRequest(dName, "set=1\nbunwg_debug=true\n\n")).answer).toBe("errno=0\n\n");

    // Permissions, as root sees them and as another user finds them.
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(socketPath(dName)).toString(8)).toBe("600");
    expect(mode(LOG_DIR).toString(8)).toBe("700");
    expect(mode(logPath).toString(8)).toBe("600");
    expect(statSync(logPath).uid).toBe(0);
    expect((await run([...NOBODY, "cat", logPath], { check: false })).code).not.toBe(0);
    expect((await run([...NOBODY, "ls", LOG_DIR], { check: false })).code).not.toBe(0);
    const asNobody = await run([...NOBODY, "wg", "show", dName], { check: false });
    expect(asNobody.code).not.toBe(0);
    expect(asNobody.stdout).not.toContain(dKey.pub);

    // A clean stop: no process, no socket, no interface.
    process.kill(pid, "SIGTERM");
    await waitFor("the daemon to exit", () => !alive(pid), 10_000);
    expect(existsSync(socketPath(dName))).toBe(false);
    expect((await run(["ip", "-n", dName, "link", "show", dName], { check: false })).code).not.toBe(0);

    const log = readFileSync(logPath, "utf8");
    // The log is not empty: handshakes, refusals and the stop are all there…
    expect(log).toContain("Received handshake");
    expect(log.split("Configuration request rejected").length - 1).toBeGreaterThanOrEqual(requests.length - 1);
    expect(log).toContain("Shutting down");
    // …and no key, nor any 20-character piece of one.
    const leaks: string[] = [];
    for (const s of secrets) {
      for (let i = 0; i + 20 <= s.length; i++) if (log.includes(s.slice(i, i + 20))) leaks.push(`${s.slice(0, 6)}…[${i}..${i + 20}]`);
    }
    if (leaks.length > 0) console.error(log.split("\n").filter((l) => l.includes("rejected")).join("\n"));
    expect(leaks).toEqual([]);
  }, 60_000);
});
