// The index table tells a SessionObserver of every session as its index starts and stops naming it (the data plane's
// workers keep copies of the receive keys by index: src/device/workers.ts, zig/src/sessions.zig). What the copies
// must never do: outlive the session, or miss one — the observer's set equals the engine's live sessions after every
// step, and each removal comes while the key is still whole, before the engine erases it.
import { describe, expect, test } from "bun:test";
import { nobleAead } from "../../src/crypto/aead.ts";
import { REKEY_AFTER_TIME, ZERO_KEYS_AFTER, type Engine, type Keypair, type Peer, type SessionObserver } from "../../src/noise/index.ts";
import { handshake, makePair, open, seal, type Pair } from "./helpers.ts";

const aead = nobleAead();

/** Records the sessions it is told of, with the key it was given and a copy of its bytes at that moment. */
class Mirror implements SessionObserver {
  readonly live = new Map<number, { key: Uint8Array; copy: Uint8Array }>();
  readonly problems: string[] = [];
  added(index: number, receiveKey: Uint8Array): void {
    if (this.live.has(index)) this.problems.push(`index ${index} added twice`);
    if (receiveKey.every((b) => b === 0)) this.problems.push(`index ${index} added with an all-zero key`);
    this.live.set(index, { key: receiveKey, copy: receiveKey.slice() });
  }
  removed(index: number): void {
    const e = this.live.get(index);
    if (e === undefined) return void this.problems.push(`index ${index} removed but never added`);
    if (!e.key.every((b, i) => b === e.copy[i])) this.problems.push(`index ${index}: its key changed or was erased before removal`);
    this.live.delete(index);
  }
}

function sessionsOf(peers: Peer[]): Keypair[] {
  return peers.flatMap((p) => [p.previous, p.current, p.next]).filter((k): k is Keypair => k !== null);
}

/** The mirror holds exactly the engine's sessions, each with its current key. */
function expectMirrors(m: Mirror, engine: Engine, peers: Peer[]): void {
  expect(m.problems).toEqual([]);
  const want = sessionsOf(peers).map((k) => k.localIndex).sort();
  expect([...m.live.keys()].sort()).toEqual(want);
  for (const [index, e] of m.live) expect(e.key).toEqual(engine.keypairByIndex(index)!.receiveKey);
}

describe("session observer", () => {
  test("follows handshakes, rotation both ways, key erasure after ZERO_KEYS_AFTER, a key change and peer removal", () => {
    const p: Pair = makePair({ aead });
    const ma = new Mirror(), mb = new Mirror();
    p.a.indices.observer = ma;
    p.b.indices.observer = mb;
    const check = () => {
      expectMirrors(ma, p.a, [p.pa]);
      expectMirrors(mb, p.b, [p.pb]);
    };
    const confirm = (now: number, from: Peer, to: Engine) => {
      expect(open(aead, to, now, seal(aead, from, from.sendingKeypair(now)!, new Uint8Array(0)))).not.toBeNull();
    };
    let now = 0;
    handshake(p, now);
    check();
    confirm(now, p.pa, p.b);
    check();
    // Rotation: a new handshake each way; the oldest sessions are dropped as new ones come.
    for (let i = 0; i < 4; i++) {
      now += REKEY_AFTER_TIME + 1000;
      const q: Pair = i % 2 === 0 ? p : { a: p.b, b: p.a, pa: p.pb, pb: p.pa };
      expect(handshake(q, now).atA?.kind).toBe("established");
      confirm(now, q.pa, q.b);
      check();
      expect(ma.live.size).toBeGreaterThan(0);
    }
    // Nothing for ZERO_KEYS_AFTER: every key is erased (§6.3), and each copy went before its key did.
    now += ZERO_KEYS_AFTER + 1;
    p.pa.tick(now);
    p.pb.tick(now);
    check();
    expect(ma.live.size).toBe(0);
    // A fresh session, then a's private key changes: sessions made with the old one go.
    expect(handshake(p, now).atA?.kind).toBe("established");
    check();
    const aPublic = p.a.publicKey!;
    p.a.setPrivateKey(new Uint8Array(32).fill(3));
    expectMirrors(ma, p.a, [p.pa]);
    expect(ma.live.size).toBe(0);
    // b removes a: its sessions go with it.
    expect(mb.live.size).toBeGreaterThan(0);
    expect(p.b.removePeer(aPublic)).toBe(true);
    expect(mb.problems).toEqual([]);
    expect(mb.live.size).toBe(0);
  });
});
