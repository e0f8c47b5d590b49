// Send-path slots are sized by the MTU (src/device/send.ts). When the MTU is raised afterwards, a packet larger than
// the slots must come back cut short with its real length visible — never vanish — so the sender can grow its slots.
// Live: a real TUN (plain and with offloads) in a namespace of its own, a 4,000-byte ping routed into it.
import { afterAll, describe, expect, test } from "bun:test";
import { Tun } from "../../src/device/tun.ts";
import { run, waitFor } from "../support/process.ts";
import { isRoot, uniqueTag } from "../support/programs.ts";
import { Scope } from "../support/scope.ts";

const scope = new Scope();
afterAll(() => scope.close());

describe.skipIf(!isRoot)("a packet larger than the read slots (root: TUN, namespace)", () => {
  if (!isRoot) console.log("tun-mtu.test.ts: skipped: needs root (TUN devices, namespaces)");
  for (const offload of [false, true]) {
    test(`${offload ? "with offloads" : "plain TUN"}: read cut short, its length beyond the slot`, async () => {
      const t = uniqueTag();
      const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
      const ns = await scope.netns(`bmm${t}`);
      const tun = Tun.create(`bmm${t}`, { mtu: 1420, offload });
      scope.add(() => tun.close());
      await run(["ip", "link", "set", tun.name, "netns", ns]);
      await run(["ip", "-n", ns, "addr", "add", `10.${n}.${m}.1/24`, "dev", tun.name]);
      await run(["ip", "-n", ns, "link", "set", tun.name, "mtu", "9000", "up"]);
      const STRIDE = 1536, SLOTS = 8;
      const buf = new Uint8Array(STRIDE * SLOTS), lens = new Uint32Array(SLOTS);
      // 4,000 bytes of ICMP payload: a 4,028-byte IPv4 packet, one packet (no segmentation offload applies to ICMP).
      const pinger = Bun.spawn(["ip", "netns", "exec", ns, "ping", "-n", "-c", "20", "-i", "0.2", "-s", "4000", "-M", "do", `10.${n}.${m}.2`],
        { stdout: "ignore", stderr: "ignore" });
      scope.add(() => pinger.kill("SIGKILL"));
      let got: { len: number; ipLen: number } | null = null;
      await waitFor("a 4,028-byte packet read from the TUN", () => {
        const k = tun.readBatch(buf, STRIDE, lens, SLOTS);
        for (let i = 0; i < k; i++) {
          const at = i * STRIDE;
          if (buf[at] >> 4 === 4 && buf[at + 9] === 1) got = { len: lens[i], ipLen: (buf[at + 2] << 8) | buf[at + 3] };
        }
        return got !== null;
      }, 5000);
      pinger.kill("SIGKILL");
      // Either the read length or the IP length says 4,028: more than the slot holds (send.ts grows its slots then).
      expect(got!.ipLen).toBe(4028);
      expect(Math.max(got!.len, got!.ipLen)).toBeGreaterThan(STRIDE);
    });
  }
});
