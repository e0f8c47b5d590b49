import { test } from "bun:test";
import { OURS, Scope, genKey, ping, pingUntil, sh, tag, wg } from "../helpers/net.ts";
import { PEER_PROGRAM, startDaemon, listenPort, alive, IMPLEMENTATIONS, peerField } from "./live.ts";
for (const [name, prog] of IMPLEMENTATIONS) test("explore " + name, async () => {
  const scope = new Scope();
  try {
    const t = tag();
    const mk = async (s: string, host: number, prog: string[]) => {
      const name = `bwx${t}${s}`; await scope.netns(name);
      const d = await startDaemon(scope, prog, name); const key = genKey();
      await wg(["set", name, "private-key", scope.file(`${name}.key`, key.priv + "\n"), "listen-port", "0"]);
      return { ns: name, ifname: name, v4: `10.77.0.${host}`, key, port: await listenPort(name), d };
    };
    const A = await mk("a", 1, prog), B = await mk("b", 2, PEER_PROGRAM);
    for (const [s, o] of [[A, B], [B, A]] as const) {
      await wg(["set", s.ifname, "peer", o.key.pub, "endpoint", `127.0.0.1:${o.port}`, "allowed-ips", `${o.v4}/32`]);
      await sh(["ip", "link", "set", s.ifname, "netns", s.ns]);
      await sh(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
      await sh(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
    }
    await pingUntil(A.ns, B.v4);
    const r = await wg(["set", A.ifname, "listen-port", String(B.port)], { check: false });
    console.log(name, "port taken:", r.code, r.stderr.trim(), "listen-port now", (await wg(["show", A.ifname, "listen-port"])).stdout.trim(), "was", A.port, "ping A->B", await ping(A.ns, B.v4, 2, 1), "B->A", await ping(B.ns, A.v4, 2, 1), "alive", alive(A.d.pid));
    const f = await wg(["set", A.ifname, "fwmark", "0x1234"], { check: false });
    console.log(name, "fwmark:", f.code, f.stderr.trim(), JSON.stringify((await wg(["show", A.ifname, "fwmark"])).stdout.trim()));
    // ipv6 endpoint
    await wg(["set", A.ifname, "peer", B.key.pub, "endpoint", `[::1]:${B.port}`]);
    console.log(name, "v6 endpoint ping", await ping(A.ns, B.v4, 2, 1), await peerField(B.ifname, A.key.pub, 2));
  } finally { scope.close(); }
}, 60000);
