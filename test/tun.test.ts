// The TUN device through the Zig library (root only): the TUN is moved into a network namespace of our own
// (docs/platform.md: its fd keeps working there), the kernel there routes a ping into it, we read it after an
// onReadable wake, write a UDP packet that a socket in the namespace receives, and see deletion reported.
import { afterAll, describe, expect, test } from "bun:test";
import { Tun } from "../src/device/tun.ts";
import { TunGoneError } from "../src/device/io.ts";

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log("tun.test.ts: skipped: needs root (creates a TUN device and a network namespace)");

const suffix = () => Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0");

function sh(...cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

function until<T>(what: string, ms: number, make: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    make(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

// RFC 1071 internet checksum over `parts`, each padded to even length.
function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += (p[i] << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Udp(src: number[], dst: number[], sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const len = 20 + 8 + payload.length;
  const p = new Uint8Array(len);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, len);
  dv.setUint16(4, 0x1234); // identification
  p[8] = 64; // TTL
  p[9] = 17; // UDP
  p.set(src, 12);
  p.set(dst, 16);
  dv.setUint16(10, checksum(p.subarray(0, 20)));
  dv.setUint16(20, sport);
  dv.setUint16(22, dport);
  dv.setUint16(24, 8 + payload.length);
  p.set(payload, 28);
  const pseudo = new Uint8Array(12);
  pseudo.set(src, 0);
  pseudo.set(dst, 4);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, 8 + payload.length);
  const c = checksum(pseudo, p.subarray(20));
  dv.setUint16(26, c === 0 ? 0xffff : c);
  return p;
}

describe.skipIf(!isRoot)("Tun (root)", () => {
  const id = suffix();
  const ns = `bwgn${id}`;
  const name = `bwgt${id}`;
  const [a, b] = [10 + (parseInt(id.slice(0, 2), 16) % 200), parseInt(id.slice(2, 4), 16)];
  const local = [10, a, b, 1]; // the TUN's address inside the namespace
  const remote = [10, a, b, 2]; // "the other side": routed into the TUN
  let tun: Tun | undefined;

  afterAll(() => {
    tun?.close();
    Bun.spawnSync(["ip", "netns", "del", ns], { stderr: "ignore" });
  });

  test("create, move into a namespace, read a routed ping, write a UDP packet the kernel delivers, see deletion", async () => {
    sh("ip", "netns", "add", ns);
    tun = Tun.create(name, { mtu: 1380 });
    expect(tun.name).toBe(name);
    expect(tun.fd).toBeGreaterThan(2);
    expect(sh("ip", "-o", "link", "show", name)).toContain("mtu 1380");
    sh("ip", "link", "set", name, "netns", ns);
    sh("ip", "-n", ns, "addr", "add", `${local.join(".")}/24`, "dev", name);
    sh("ip", "-n", ns, "link", "set", name, "up");

    const stride = 2048;
    const buf = new Uint8Array(64 * stride);
    const lens = new Uint32Array(64);
    let wakes = 0;
    let onWake: (gone?: TunGoneError) => void = () => {};
    tun.onReadable((gone) => {
      wakes++;
      onWake(gone);
    });
    expect(() => tun!.onReadable(() => {})).toThrow(/already registered/);

    // 1. Kernel → TUN: a ping to an address routed via the TUN arrives as an ICMP echo request.
    const ping = Bun.spawn(["ip", "netns", "exec", ns, "ping", "-c", "5", "-i", "0.2", "-W", "1", remote.join(".")], { stdout: "ignore", stderr: "ignore" });
    try {
      const echo = await until<Uint8Array>("an ICMP echo request from the kernel", 5000, (resolve, reject) => {
        onWake = (gone) => {
          if (gone) return reject(gone);
          for (let n = tun!.readBatch(buf, stride, lens, 64); n > 0; n = tun!.readBatch(buf, stride, lens, 64)) {
            for (let i = 0; i < n; i++) {
              const p = buf.subarray(i * stride, i * stride + lens[i]);
              // Skip the kernel's own IPv6 chatter (router solicitations, MLD).
              if (p[0] >> 4 === 4 && p[9] === 1 && p[20] === 8 && p.subarray(16, 20).join(".") === remote.join(".")) return resolve(p.slice());
            }
          }
          tun!.rearm();
        };
        tun!.rearm(); // in case the first wake already happened before onWake was set
      });
      expect(echo.subarray(12, 16).join(".")).toBe(local.join("."));
      expect(wakes).toBeGreaterThan(0);
    } finally {
      ping.kill();
    }

    // 2. TUN → kernel: a UDP packet from `remote` to a socket bound in the namespace.
    onWake = () => {
      while (tun!.readBatch(buf, stride, lens, 64) > 0);
      tun!.rearm();
    };
    tun.rearm();
    const port = 20000 + (parseInt(id.slice(0, 4), 16) % 20000);
    const receiver = Bun.spawn(
      [
        "ip", "netns", "exec", ns, process.execPath, "-e",
        `const s = await Bun.udpSocket({ hostname: "${local.join(".")}", port: ${port}, socket: { data(_s, d, p, a) { console.log(a + ":" + p + " " + d.toString()); process.exit(0); } } });
         console.log("ready"); setTimeout(() => process.exit(3), 5000);`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      const reader = receiver.stdout.getReader();
      let text = "";
      await until<void>("the UDP receiver to bind", 5000, async (resolve, reject) => {
        while (!text.includes("ready")) {
          const { value, done } = await reader.read();
          if (done) return reject(new Error(`receiver exited: ${await new Response(receiver.stderr).text()}`));
          text += new TextDecoder().decode(value);
        }
        resolve();
      });
      const payload = new TextEncoder().encode(`hello from the TUN ${id}`);
      const pkt = ipv4Udp(remote, local, 4444, port, payload);
      const out = new Uint8Array(100 + pkt.length);
      out.set(pkt, 100);
      expect(tun.writeBatch(out, new Uint32Array([100]), new Uint32Array([pkt.length]), 1)).toBe(1);
      const got = await until<string>("the datagram written to the TUN", 5000, async (resolve) => {
        for (;;) {
          const { value, done } = await reader.read();
          if (value) text += new TextDecoder().decode(value);
          if (text.includes("hello") || done) return resolve(text);
        }
      });
      expect(got).toContain(`${remote.join(".")}:4444 hello from the TUN ${id}`);
    } finally {
      receiver.kill();
    }

    // 3. Deleting the interface wakes the callback with TunGoneError, and reads throw it.
    const gone = until<TunGoneError | undefined>("the deletion to be reported", 5000, (resolve) => {
      onWake = (g) => resolve(g);
    });
    tun.rearm();
    sh("ip", "-n", ns, "link", "del", name);
    const err = await gone;
    expect(err).toBeInstanceOf(TunGoneError);
    expect(() => tun!.readBatch(buf, stride, lens, 64)).toThrow(TunGoneError);
    expect(tun.gone).toBe(true);
    tun.close();
    tun.close(); // idempotent
    expect(() => tun!.readBatch(buf, stride, lens, 64)).toThrow(/after close/);
  }, 30_000);

  test("bad names and busy names are reported by name", () => {
    expect(() => Tun.create("x".repeat(16))).toThrow(/expected 1–15 bytes/);
    expect(() => Tun.create("")).toThrow(/expected 1–15 bytes/);
    // A TUN interface already attached to a process refuses a second attach (EBUSY).
    const n = `bwgl${suffix()}`;
    const first = Tun.create(n);
    try {
      expect(() => Tun.create(n)).toThrow(new RegExp(`TUN ${n}: cannot create: an interface of that name exists`));
    } finally {
      first.close();
    }
  });

  test("close stops the poll thread without a wake and frees the interface", async () => {
    const n = `bwgc${suffix()}`;
    const t = Tun.create(n);
    let calls = 0;
    t.onReadable(() => calls++);
    t.close();
    await Bun.sleep(20);
    expect(Bun.spawnSync(["ip", "link", "show", n], { stderr: "ignore" }).exitCode).not.toBe(0);
    expect(calls).toBe(0);
  });
});
