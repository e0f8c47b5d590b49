// No endpoint, no handshake attempt (issue 10, item 7): a packet for a peer whose endpoint is unknown is staged
// but must not count as an initiation, or the REKEY_TIMEOUT limit (§6.2) holds back the first real handshake once
// the endpoint arrives. Core level with the sans-IO engine, and black-box with two bunwg daemons.
import { afterAll, describe, expect, test } from "bun:test";
import { REKEY_TIMEOUT } from "../../src/noise/constants.ts";
import { makePair } from "./helpers.ts";
import { ping } from "../support/net.ts";
import { run } from "../support/process.ts";
import { BUNWG, genKey, isRoot, uniqueTag, wgTool } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";

describe("a peer without an endpoint", () => {
  test("makes no initiation; once it has one, the next wanted handshake goes out at once", () => {
    const { pa } = makePair();
    pa.hasEndpoint = false;
    pa.wantHandshake(0); // the stray packet
    expect(pa.nextDeadline()).toBe(0);
    expect(pa.tick(0).filter((a) => a.kind === "initiation")).toEqual([]);
    // Nothing was counted: no retry is pending either.
    expect(pa.nextDeadline()).toBe(Infinity);
    pa.hasEndpoint = true;
    pa.wantHandshake(100); // the shell, when the endpoint is set with packets staged
    const actions = pa.tick(100);
    expect(actions.map((a) => a.kind)).toEqual(["initiation"]);
    // And an attempt now counts: a second one waits REKEY_TIMEOUT.
    expect(pa.createInitiation(100 + REKEY_TIMEOUT - 1)).toBeNull();
  });
});

describe.skipIf(!isRoot)("a bunwg daemon", () => {
  const scope = new Scope();
  afterAll(() => scope.close());

  test("a stray packet to an endpoint-less peer, then the endpoint set: the first ping succeeds at once", async () => {
    const t = uniqueTag();
    const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
    const sides = ["a", "b"].map((s, i) => ({ ns: `bwte${t}${s}`, ifname: `bwte${t}${s}`, v4: `10.${n}.${m}.${i + 1}`, key: genKey(), port: 0 }));
    const [a, b] = sides as [typeof sides[0], typeof sides[0]];
    for (const s of sides) {
      await scope.netns(s.ns);
      scope.track(s.ns);
      await scope.daemon(BUNWG, s.ifname);
      await wgTool(["set", s.ifname, "private-key", scope.file(`${s.ifname}.key`, s.key.priv + "\n"), "listen-port", "0"]);
      s.port = Number((await wgTool(["show", s.ifname, "listen-port"])).stdout.trim());
    }
    // Neither knows where the other is.
    for (const [s, o] of [[a, b], [b, a]] as const) {
      await wgTool(["set", s.ifname, "peer", o.key.pub, "allowed-ips", `${o.v4}/32`]);
      await run(["ip", "link", "set", s.ifname, "netns", s.ns]);
      await run(["ip", "-n", s.ns, "addr", "add", `${s.v4}/24`, "dev", s.ifname]);
      await run(["ip", "-n", s.ns, "link", "set", s.ifname, "up"]);
    }
    expect(await ping(a.ns, b.v4, 1, 1)).toBe(false); // the stray packet: no endpoint yet
    await wgTool(["set", a.ifname, "peer", b.key.pub, "endpoint", `127.0.0.1:${b.port}`]);
    // Within REKEY_TIMEOUT of the stray packet: answered only if that packet made no attempt.
    expect(await ping(a.ns, b.v4, 1, 2)).toBe(true);
  }, 60_000);
});
