// A WireGuard peer made of our own protocol engine behind a UDP socket on a loopback address: it can handshake
// with a daemon, send any inner packet, replay, and flood — what no real peer would do on purpose.
import type { udp } from "bun";
import { loadAead, type Aead } from "../../src/crypto/aead.ts";
import { defaultSuite } from "../../src/crypto/suite.ts";
import { Engine, type Keypair, type Peer } from "../../src/noise/index.ts";
import { keyFromBase64, keyToBase64, keyToHex } from "../../src/text/codec.ts";
import { open, seal } from "../noise/helpers.ts";
import { padded } from "../robust/fuzzer.ts";
import { waitFor } from "./process.ts";

type Sock = udp.Socket<"uint8array">;

/** A WireGuard peer made of our protocol engine and a UDP socket on `host` (another loopback address). It records
 *  every datagram it receives; `established()` handshakes with the daemon listening at daemonPort. */
export class TestPeer {
  readonly engine: Engine;
  readonly aead: Aead;
  peer!: Peer;
  sock!: Sock;
  received: Uint8Array[] = [];
  /** Every transport message this peer sent, in order. */
  sent: Uint8Array[] = [];
  private now = 0;

  private constructor(readonly host: string, readonly daemonPort: number, readonly daemonPublicKey: Uint8Array) {
    this.aead = loadAead();
    this.engine = new Engine({ crypto: defaultSuite({ aead: this.aead }) });
    const k = new Uint8Array(32);
    crypto.getRandomValues(k);
    this.engine.setPrivateKey(k);
    this.peer = this.engine.addPeer(daemonPublicKey);
  }

  static async open(host: string, daemonPort: number, daemonPublicKeyBase64: string): Promise<TestPeer> {
    const t = new TestPeer(host, daemonPort, keyFromBase64(daemonPublicKeyBase64, "daemon public key"));
    t.sock = await Bun.udpSocket({
      hostname: host,
      port: 0,
      socket: { data: (_s, buf) => { t.received.push(new Uint8Array(buf)); }, error: () => {} },
    });
    return t;
  }

  get publicKeyHex(): string { return keyToHex(this.engine.publicKey!); }
  get publicKeyBase64(): string { return keyToBase64(this.engine.publicKey!); }
  get port(): number { return this.sock.port; }

  send(bytes: Uint8Array): void { this.sock.send(bytes, this.daemonPort, "127.0.0.1"); }

  /** Sends many datagrams in one call (sendmmsg); returns how many the kernel took. */
  sendMany(list: Uint8Array[]): number {
    const args: (Uint8Array | number | string)[] = [];
    for (const b of list) args.push(b, this.daemonPort, "127.0.0.1");
    return this.sock.sendMany(args as never);
  }

  /** Sends a fresh handshake initiation and does not wait for the answer. */
  initiate(): void {
    this.now += 10_000;
    const init = this.peer.createInitiation(this.now);
    if (init === null) throw new Error("test peer: cannot create an initiation");
    this.send(init);
  }

  /** A handshake as initiator (§5.4.2); resolves once our session is current, rejects after timeoutMs. */
  async establish(timeoutMs = 5000): Promise<void> {
    this.now += 10_000; // a fake clock of our own: each call may initiate at once
    const init = this.peer.createInitiation(this.now);
    if (init === null) throw new Error("test peer: cannot create an initiation");
    const from = this.received.length;
    this.send(init);
    await waitFor("the daemon's handshake response", () => {
      for (let i = from; i < this.received.length; i++) {
        const m = this.received[i];
        if (m[0] === 2 && m.length === 92 && this.engine.consumeHandshake(this.now, m, new Uint8Array(6), false).kind === "established") return true;
      }
      return false;
    }, timeoutMs);
    // The initiator speaks first (§5.4.5): a keepalive makes the daemon's session current.
    this.send(this.seal(new Uint8Array(0)));
  }

  get keypair(): Keypair {
    const kp = this.peer.sendingKeypair(this.now);
    if (kp === null) throw new Error("test peer: no session");
    return kp;
  }

  /** A transport message carrying `inner` (padded to 16 bytes, §5.4.6). Recorded in `sent`. */
  seal(inner: Uint8Array): Uint8Array {
    const msg = seal(this.aead, this.peer, this.keypair, padded(inner));
    this.sent.push(msg);
    return msg;
  }

  /** Opens the transport messages received since `from`; returns their plaintexts (inner packets). */
  openReceived(from = 0): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const m of this.received.slice(from)) {
      const pt = m[0] === 4 ? open(this.aead, this.engine, this.now, m) : null;
      if (pt !== null) out.push(pt);
    }
    return out;
  }

  close(): void { this.sock.close(); }
}
