// A UDP relay between two WireGuard daemons that can impair, capture and reorder what passes: netem in user space
// (the test kernel has no sch_netem). Side A talks to the relay's socket `a`; the relay forwards from its socket `b`
// to the target (side B's daemon) and sends B's answers back to A's last address from `a`. Each daemon sees the
// relay as its peer's endpoint, so roaming keeps both paths through it.
//
// In-process: `await Relay.open({...})`. In another network namespace: `ip netns exec NS bun relay.ts A_HOST B_HOST
// TARGET_HOST:PORT` prints {"a":PORT,"b":PORT} and then takes one JSON command per line on stdin —
// {"impair":{"loss":0.1,"duplicate":0.05,"reorder":0.25}}, {"reverse":{"dir":"a2b","count":32,"minLen":33}},
// {"stats":true} — answering each with one JSON line.
import type { udp } from "bun";

type Sock = udp.Socket<"buffer">;
export type Direction = "a2b" | "b2a";

export interface Impairment {
  loss: number; // probability a datagram is dropped
  duplicate: number; // probability it is sent twice
  reorder: number; // probability it is held back behind the next 1–3 datagrams (or 5 ms)
}

export interface RelayStats {
  forwarded: Record<Direction, number>;
  dropped: number;
  duplicated: number;
  reordered: number;
}

const NONE: Impairment = { loss: 0, duplicate: 0, reorder: 0 };

export class Relay {
  impair: Record<Direction, Impairment> = { a2b: { ...NONE }, b2a: { ...NONE } };
  /** Datagrams seen per direction, when capturing. */
  captured: Record<Direction, Uint8Array[]> = { a2b: [], b2a: [] };
  capturing = false;
  /** Called with every datagram as it arrives, before any impairment: a test's own record of what passed. */
  tap: ((dir: Direction, bytes: Uint8Array) => void) | null = null;
  readonly stats: RelayStats = { forwarded: { a2b: 0, b2a: 0 }, dropped: 0, duplicated: 0, reordered: 0 };
  private lastA: { host: string; port: number } | null = null;
  private held: { dir: Direction; bytes: Uint8Array; after: number; at: number }[] = [];
  private reverse: { dir: Direction; count: number; minLen: number; list: Uint8Array[]; done: () => void } | null = null;
  private readonly flusher: ReturnType<typeof setInterval>;

  private constructor(private a: Sock, private b: Sock, readonly target: { host: string; port: number }) {
    this.flusher = setInterval(() => this.releaseHeld(true), 5);
  }

  static async open(opts: { aHost: string; bHost: string; target: { host: string; port: number } }): Promise<Relay> {
    let relay!: Relay;
    const a = await Bun.udpSocket({
      hostname: opts.aHost, port: 0,
      socket: { data: (_s, buf, port, host) => { relay.lastA = { host, port }; relay.pass("a2b", new Uint8Array(buf)); }, error: () => {} },
    });
    const b = await Bun.udpSocket({
      hostname: opts.bHost, port: 0,
      socket: { data: (_s, buf) => relay.pass("b2a", new Uint8Array(buf)), error: () => {} },
    });
    relay = new Relay(a, b, opts.target);
    return relay;
  }

  get portA(): number { return this.a.port; }
  get portB(): number { return this.b.port; }

  /** Sends bytes to the target from the relay's `b` socket, as if forwarded: the source the target knows. */
  sendToTarget(bytes: Uint8Array): void { this.b.send(bytes, this.target.port, this.target.host); }

  /** Holds the next `count` datagrams of `dir` at least minLen long, then sends them in reverse order.
   *  Resolves once they were sent. */
  reverseNext(dir: Direction, count: number, minLen: number): Promise<void> {
    return new Promise((done) => { this.reverse = { dir, count, minLen, list: [], done }; });
  }

  private out(dir: Direction, bytes: Uint8Array): void {
    this.stats.forwarded[dir]++;
    if (dir === "a2b") this.b.send(bytes, this.target.port, this.target.host);
    else if (this.lastA) this.a.send(bytes, this.lastA.port, this.lastA.host);
  }

  private pass(dir: Direction, bytes: Uint8Array): void {
    if (this.capturing) this.captured[dir].push(bytes);
    this.tap?.(dir, bytes);
    const r = this.reverse;
    if (r && r.dir === dir && bytes.length >= r.minLen) {
      r.list.push(bytes);
      if (r.list.length === r.count) {
        this.reverse = null;
        for (let i = r.list.length - 1; i >= 0; i--) this.out(dir, r.list[i]);
        r.done();
      }
      return;
    }
    const imp = this.impair[dir];
    if (Math.random() < imp.loss) {
      this.stats.dropped++;
      return;
    }
    if (Math.random() < imp.reorder) {
      this.stats.reordered++;
      this.held.push({ dir, bytes, after: 1 + Math.floor(Math.random() * 3), at: performance.now() });
      return;
    }
    this.out(dir, bytes);
    if (Math.random() < imp.duplicate) {
      this.stats.duplicated++;
      this.out(dir, bytes);
    }
    for (const h of this.held) if (h.dir === dir) h.after--;
    this.releaseHeld(false);
  }

  private releaseHeld(byTime: boolean): void {
    if (this.held.length === 0) return;
    const now = performance.now();
    const keep: typeof this.held = [];
    for (const h of this.held) {
      if (h.after <= 0 || (byTime && now - h.at >= 5)) this.out(h.dir, h.bytes);
      else keep.push(h);
    }
    this.held = keep;
  }

  close(): void {
    clearInterval(this.flusher);
    this.a.close();
    this.b.close();
  }
}

// ---- as a program in another network namespace

if (import.meta.main) {
  const [aHost, bHost, target] = process.argv.slice(2);
  if (!aHost || !bHost || !target || !target.includes(":")) {
    console.error("usage: bun relay.ts A_HOST B_HOST TARGET_HOST:PORT");
    process.exit(2);
  }
  const colon = target.lastIndexOf(":");
  const relay = await Relay.open({ aHost, bHost, target: { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) } });
  console.log(JSON.stringify({ a: relay.portA, b: relay.portB }));
  for await (const line of console) {
    if (line.trim() === "") continue;
    const cmd = JSON.parse(line) as { impair?: Impairment; reverse?: { dir: Direction; count: number; minLen: number }; stats?: boolean; quit?: boolean };
    if (cmd.impair) relay.impair = { a2b: { ...cmd.impair }, b2a: { ...cmd.impair } };
    if (cmd.reverse) await relay.reverseNext(cmd.reverse.dir, cmd.reverse.count, cmd.reverse.minLen);
    if (cmd.quit) break;
    console.log(JSON.stringify(relay.stats));
  }
  relay.close();
  process.exit(0);
}
