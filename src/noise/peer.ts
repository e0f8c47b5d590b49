// Per-peer protocol state (§5.4, §6): its keys, the handshake in progress, the three sessions (previous, current,
// next), the replay and flood defences and the §6 timers. The shell drives it with packets and `now`, and asks
// nextDeadline()/tick() what to do when.
//
// After any call on a Peer the shell should re-read nextDeadline(): packet events move it (wantHandshake and a
// rekey make it `now`, so the initiation comes out of the next tick).

import {
  INITIATIONS_MIN_INTERVAL,
  KEEPALIVE_TIMEOUT,
  KEY_LENGTH,
  MAX_HANDSHAKE_ATTEMPTS,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ON_RECEIVE_AFTER,
  REKEY_TIMEOUT,
  TAI64N_LENGTH,
  ZERO_KEYS_AFTER,
} from "./constants.ts";
import { CookieState } from "./cookie.ts";
import type { NoiseCrypto } from "./crypto.ts";
import {
  type ConsumedInitiation,
  type LocalStatic,
  PendingInitiation,
  type RemoteStatic,
  consumeResponse,
  createInitiation,
  createResponse,
  initialHashInto,
  receiverIndexOf,
  senderIndexOf,
} from "./handshake.ts";
import type { IndexTable } from "./indextable.ts";
import { Keypair } from "./keypair.ts";
import { keyToBase64 } from "../text/codec.ts";
import { INITIATION, RESPONSE } from "./messages.ts";
import { equalBytes } from "./primitives.ts";
import { tai64n, tai64nAfter } from "./tai64n.ts";
import { Timers } from "./timers.ts";

/** What a Peer needs from its Engine. */
export interface PeerHost {
  readonly crypto: NoiseCrypto;
  readonly indices: IndexTable<Peer>;
  /** Our static identity, null while no private key is set. */
  readonly local: LocalStatic | null;
  /** Unix time in ms = now + unixTimeOffset (TAI64N timestamps only). */
  readonly unixTimeOffset: number;
}

export type TimerAction =
  /** Send `packet` (a handshake initiation) to the peer's endpoint. retry: this repeats an unanswered one (§6.4;
   *  the shell logs "Handshake for peer X did not complete after 5 seconds, retrying"). */
  | { kind: "initiation"; packet: Uint8Array; retry: boolean }
  /** Send a keepalive (an empty transport message). Without a usable session, treat it like a staged packet:
   *  keep it and call wantHandshake (this is how a persistent keepalive brings a tunnel up). */
  | { kind: "keepalive" }
  /** §6.4: no answer for REKEY_ATTEMPT_TIME; drop the packets staged for this peer. */
  | { kind: "gave-up" }
  /** §6.3: all sessions and handshake state were erased. */
  | { kind: "zeroed" };

/** Why a valid-looking initiation from a known peer was refused (for debug logs). */
export type InitiationRefusal = "replayed-timestamp" | "flood" | "low-order-key";

// A peer's fixed-size byte state lives in one buffer, `bytes`, at these offsets: in JSC every small typed array costs
// an object and its storage well beyond its bytes, and a router may hold tens of thousands of mostly idle peers
// (bench/RESULTS.md, "Memory"). Views are made on demand, on the handshake path only.
const INITIAL_HASH_AT = 0; // HASH(H0 ‖ their public key)
const STATIC_STATIC_AT = INITIAL_HASH_AT + KEY_LENGTH; // DH(our static, their static)
const PSK_AT = STATIC_STATIC_AT + KEY_LENGTH; // §5.4.3 Q
const LAST_TIMESTAMP_AT = PSK_AT + KEY_LENGTH; // §5.1: the greatest TAI64N timestamp of an initiation they sent
const BYTES = LAST_TIMESTAMP_AT + TAI64N_LENGTH;

// Scratch for what is computed before it is stored in a peer's `bytes`, and for our initiations' timestamps (copied
// into the message at once). JS runs one call at a time.
const scratch = new Uint8Array(KEY_LENGTH);
const ourTimestamp = new Uint8Array(TAI64N_LENGTH);

export class Peer implements RemoteStatic {
  readonly publicKey: Uint8Array;
  private readonly bytes = new Uint8Array(BYTES);
  private hasPresharedKey = false;
  private isSelf_ = false;

  // Made on first use and dropped when done: most peers of a large set never handshake.
  private cookies_: CookieState | null = null;
  private pending: PendingInitiation | null = null;
  private readonly timers: Timers;
  private lastSentInitiation = -Infinity;
  // §5.1 replay and flood defence on initiations we receive (the last timestamp is in `bytes`).
  private lastInitiationConsumed = -Infinity;
  private rekeyRequestedOnReceive = false;

  private previous_: Keypair<Peer> | null = null;
  private current_: Keypair<Peer> | null = null;
  private next_: Keypair<Peer> | null = null;
  private lastHandshake_ = 0;
  private removed = false;
  /** Whether the shell has an address to send this peer's handshake messages to. Without one no initiation is
   *  made: it could not go out, and counting it as an attempt would hold back the first real one by REKEY_TIMEOUT
   *  once the endpoint arrives (issue 10, item 7). The shell keeps this current (src/device/peer.ts). */
  hasEndpoint = true;
  /** The shell's own record of this peer, for the shell to find it from a session (src/device/device.ts peerOf):
   *  a field rather than a map from peer to record, which would cost an entry per peer. Unused by the core. */
  shell: unknown = null;

  constructor(
    private readonly host: PeerHost,
    publicKey: Uint8Array,
  ) {
    if (publicKey.length !== KEY_LENGTH) throw new RangeError(`public key: expected 32 bytes, got ${publicKey.length}`);
    this.publicKey = Uint8Array.from(publicKey);
    initialHashInto(host.crypto, this.publicKey, scratch);
    this.bytes.set(scratch, INITIAL_HASH_AT);
    scratch.fill(0);
    this.timers = new Timers(host.crypto.random);
    this.localKeyChanged();
  }

  /** Their public key in base64, as logs name a peer (made on each call: only logs and errors want it). */
  get publicKeyBase64(): string {
    return keyToBase64(this.publicKey);
  }

  /** HASH(H0 ‖ their public key): where our initiations to them start. A view of the peer's state. */
  get initialHash(): Uint8Array {
    return this.bytes.subarray(INITIAL_HASH_AT, INITIAL_HASH_AT + KEY_LENGTH);
  }

  /** DH(our static, their static); zero without a private key, or when their key is a low-order point. A view. */
  get staticStatic(): Uint8Array {
    return this.bytes.subarray(STATIC_STATIC_AT, STATIC_STATIC_AT + KEY_LENGTH);
  }

  /** §5.4.3 Q as the handshake uses it: all zero when none is set. A view. */
  get psk(): Uint8Array {
    return this.bytes.subarray(PSK_AT, PSK_AT + KEY_LENGTH);
  }

  /** The cookie state of what we send this peer (§5.4.4), made on first use. */
  get cookies(): CookieState {
    return (this.cookies_ ??= new CookieState(this.host.crypto, this.publicKey));
  }

  /** §6.1: the session before `current`, kept so packets still in flight on it decrypt. */
  get previous(): Keypair<Peer> | null {
    return this.previous_;
  }

  /** The session we send with (once usable: see sendingKeypair). */
  get current(): Keypair<Peer> | null {
    return this.current_;
  }

  /** A session we made as responder that the initiator has not used yet: we may not send on it (§5.4.5) until the
   *  first packet on it arrives, which makes it current. */
  get next(): Keypair<Peer> | null {
    return this.next_;
  }

  /** Their key equals ours: such a peer is ignored (wg(8) semantics). */
  get isSelf(): boolean {
    return this.isSelf_;
  }

  /** `now` of the last completed handshake, 0 if never. */
  get lastHandshake(): number {
    return this.lastHandshake_;
  }

  // ---- configuration

  get presharedKey(): Uint8Array | null {
    return this.hasPresharedKey ? this.bytes.slice(PSK_AT, PSK_AT + KEY_LENGTH) : null;
  }

  /** 32 bytes, or null for none (the handshake then mixes in 32 zero bytes, §5.4.3). */
  setPresharedKey(key: Uint8Array | null): void {
    if (key !== null && key.length !== KEY_LENGTH) {
      throw new RangeError(`preshared key: expected 32 bytes, got ${key.length}`);
    }
    if (key === null) this.bytes.fill(0, PSK_AT, PSK_AT + KEY_LENGTH);
    else this.bytes.set(key, PSK_AT);
    this.hasPresharedKey = key !== null;
  }

  /** Persistent keepalive interval in seconds, 0 = off. A keepalive goes out when nothing went either way for
   *  that long; the interval restarts with every packet. Setting it through this property starts counting at the
   *  next packet, through setPersistentKeepalive at `now`. (Sending one at once when it is switched on, as
   *  wireguard-go does, is the shell's move.) */
  get persistentKeepalive(): number {
    return this.timers.persistentInterval / 1000;
  }

  set persistentKeepalive(seconds: number) {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 65535) {
      throw new RangeError(`persistent keepalive interval: expected 0..65535 seconds, got ${seconds}`);
    }
    this.timers.persistentInterval = seconds * 1000;
    if (seconds === 0) this.timers.persistentAt = Infinity;
  }

  setPersistentKeepalive(seconds: number, now: number): void {
    this.persistentKeepalive = seconds;
    if (seconds > 0) this.timers.persistentAt = now + seconds * 1000;
  }

  // ---- send path (per packet: no allocation)

  /** The session to send with now, or null: none, not yet confirmed, or past REJECT_AFTER_TIME/MESSAGES.
   *  §6.2: when the session wants renewing (initiator and older than REKEY_AFTER_TIME, or REKEY_AFTER_MESSAGES
   *  sent) this also asks for a handshake. */
  sendingKeypair(now: number): Keypair<Peer> | null {
    const kp = this.current_;
    if (kp === null) return null;
    const age = now - kp.created;
    if (age >= REJECT_AFTER_TIME || kp.sendCounter >= REJECT_AFTER_MESSAGES) return null;
    if (kp.sendCounter > REKEY_AFTER_MESSAGES || (kp.isInitiator && age > REKEY_AFTER_TIME)) this.wantHandshake(now);
    return kp;
  }

  /** Reserves n consecutive counters on kp: returns the first, or -1 when they would reach
   *  REJECT_AFTER_MESSAGES (or kp was erased). */
  reserveCounters(kp: Keypair<Peer>, n: number): number {
    const first = kp.sendCounter;
    if (!kp.alive || first + n > REJECT_AFTER_MESSAGES) return -1;
    kp.sendCounter = first + n;
    return first;
  }

  /** §6.2 timer input: a transport message (data, or a keepalive when isKeepalive) went out. Handshake messages
   *  this class makes are accounted for already. Once per packet, or once per batch with the batch's `now`. */
  packetSent(now: number, isKeepalive: boolean): void {
    const t = this.timers;
    t.anyAuthenticatedPacketSent();
    t.anyAuthenticatedPacketTraversal(now);
    if (!isKeepalive) t.dataSent(now);
  }

  // ---- receive path (per packet: no allocation)

  /** Cheap check before decrypting: the counter is not replayed, not too old, not past the limit. */
  replayMayAccept(kp: Keypair<Peer>, counter: number): boolean {
    return kp.alive && kp.replay.mayAccept(counter, REJECT_AFTER_MESSAGES);
  }

  /** After a transport message on kp opened: records the counter (§5.4.6), confirms a new session, runs the
   *  timers. False when the packet must be dropped (replayed, too old, session expired or erased). When this
   *  confirms a session, sendingKeypair starts returning it: a shell holding staged packets should retry them. */
  packetReceived(now: number, kp: Keypair<Peer>, counter: number, isKeepalive: boolean): boolean {
    if (!kp.alive || now - kp.created >= REJECT_AFTER_TIME) return false;
    if (!kp.replay.accept(counter, REJECT_AFTER_MESSAGES)) return false;
    if (kp === this.next_) this.confirmNext(now);
    const t = this.timers;
    t.anyAuthenticatedPacketReceived();
    t.anyAuthenticatedPacketTraversal(now);
    if (!isKeepalive) t.dataReceived(now);
    // §6.2: an initiator receiving on an old session renews it before it expires, once.
    const cur = this.current_;
    if (
      cur !== null &&
      cur.isInitiator &&
      !this.rekeyRequestedOnReceive &&
      now - cur.created > REKEY_ON_RECEIVE_AFTER
    ) {
      this.rekeyRequestedOnReceive = true;
      this.wantHandshake(now);
    }
    return true;
  }

  // ---- handshakes and timers

  /** Data waits and no session is usable (or one wants renewing): an initiation goes out at the next tick unless
   *  one went out less than REKEY_TIMEOUT ago (its retries carry on). Restarts the REKEY_ATTEMPT_TIME budget. */
  wantHandshake(now: number): void {
    const t = this.timers;
    t.attempts = 0;
    if (t.initiationAt === Infinity && now - this.lastSentInitiation >= REKEY_TIMEOUT) t.initiationAt = now;
  }

  /** A handshake initiation to send now, or null: no private key, no endpoint, the peer is ourselves, or one went
   *  out less than REKEY_TIMEOUT ago. Arms the retry timer. */
  createInitiation(now: number): Uint8Array | null {
    this.timers.attempts = 0;
    return this.initiate(now);
  }

  nextDeadline(): number {
    return this.timers.next();
  }

  /** Acts on the deadlines that passed. Call when now >= nextDeadline(). */
  tick(now: number): TimerAction[] {
    const t = this.timers;
    const actions: TimerAction[] = [];
    if (t.zeroAt <= now) {
      t.zeroAt = Infinity;
      this.eraseSessions();
      actions.push({ kind: "zeroed" });
    }
    if (t.retransmitAt <= now) {
      t.retransmitAt = Infinity;
      if (t.attempts >= MAX_HANDSHAKE_ATTEMPTS) {
        // §6.4: give up until new traffic; erase keys later if nothing comes.
        t.keepaliveAt = Infinity;
        t.initiationAt = Infinity;
        if (t.zeroAt === Infinity) t.zeroAt = now + ZERO_KEYS_AFTER;
        actions.push({ kind: "gave-up" });
      } else {
        t.attempts++;
        const packet = this.initiate(now);
        if (packet !== null) actions.push({ kind: "initiation", packet, retry: true });
      }
    }
    if (t.newHandshakeAt <= now || t.initiationAt <= now) {
      t.newHandshakeAt = Infinity;
      t.initiationAt = Infinity;
      const packet = this.createInitiation(now);
      if (packet !== null) actions.push({ kind: "initiation", packet, retry: false });
    }
    let keepalive = false;
    if (t.keepaliveAt <= now) {
      t.keepaliveAt = Infinity;
      keepalive = true;
      if (t.needAnotherKeepalive) {
        t.needAnotherKeepalive = false;
        t.keepaliveAt = now + KEEPALIVE_TIMEOUT;
      }
    }
    if (t.persistentAt <= now) {
      t.persistentAt = Infinity;
      keepalive ||= t.persistentInterval > 0;
    }
    if (keepalive) actions.push({ kind: "keepalive" });
    return actions;
  }

  // ---- engine side

  private initiate(now: number): Uint8Array | null {
    const local = this.host.local;
    if (local === null || this.isSelf_ || this.removed || !this.hasEndpoint) return null;
    if (now - this.lastSentInitiation < REKEY_TIMEOUT) return null;
    const indices = this.host.indices;
    const pending = (this.pending ??= new PendingInitiation());
    const oldIndex = pending.ephemeral !== null ? pending.localIndex : -1;
    const index = indices.newHandshakeIndex(this);
    const msg = new Uint8Array(INITIATION.size);
    tai64n(now + this.host.unixTimeOffset, ourTimestamp);
    const made = createInitiation(this.host.crypto, local, this, pending, index, ourTimestamp, msg);
    ourTimestamp.fill(0);
    if (!made) {
      indices.free(index);
      if (pending.ephemeral === null) this.pending = null;
      return null;
    }
    if (oldIndex !== -1) indices.free(oldIndex);
    this.cookies.addMacs(now, msg);
    this.lastSentInitiation = now;
    const t = this.timers;
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketSent();
    t.handshakeInitiated(now);
    return msg;
  }

  /** Engine: an initiation from this peer authenticated (§5.4.2). Applies the replay and flood checks (§5.1) and
   *  returns the response to send, or why it was refused. As in wireguard-go, answering abandons an initiation
   *  of ours still awaiting its response. */
  acceptInitiation(now: number, consumed: ConsumedInitiation): Uint8Array | InitiationRefusal {
    if (!tai64nAfter(consumed.timestamp, this.bytes.subarray(LAST_TIMESTAMP_AT, LAST_TIMESTAMP_AT + TAI64N_LENGTH))) return "replayed-timestamp";
    if (now - this.lastInitiationConsumed < INITIATIONS_MIN_INTERVAL) return "flood";
    const indices = this.host.indices;
    const index = indices.newHandshakeIndex(this);
    const kp = new Keypair(this, index, consumed.senderIndex, false, now);
    const msg = new Uint8Array(RESPONSE.size);
    this.bytes.set(consumed.timestamp, LAST_TIMESTAMP_AT);
    this.lastInitiationConsumed = now;
    if (!createResponse(this.host.crypto, this, consumed.senderIndex, index, msg, kp.sendKey, kp.receiveKey)) {
      indices.free(index);
      kp.zero();
      return "low-order-key";
    }
    this.cookies.addMacs(now, msg);
    this.abandonInitiation();
    indices.promote(index, kp);
    // §5.4.5: the new session waits in `next` until the initiator uses it; older unconfirmed ones are dropped.
    this.drop(this.next_);
    this.next_ = kp;
    this.drop(this.previous_);
    this.previous_ = null;
    const t = this.timers;
    t.anyAuthenticatedPacketReceived();
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketSent();
    t.sessionDerived(now);
    return msg;
  }

  /** Engine: a response whose receiver index names our pending initiation (§5.4.3). True when it authenticated
   *  and the new session is current. */
  acceptResponse(now: number, msg: Uint8Array): boolean {
    const local = this.host.local;
    const index = receiverIndexOf(msg);
    const pending = this.pending;
    if (local === null || pending === null || pending.ephemeral === null || pending.localIndex !== index) return false;
    const kp = new Keypair(this, index, senderIndexOf(msg), true, now);
    if (!consumeResponse(this.host.crypto, local, this, pending, msg, kp.sendKey, kp.receiveKey)) {
      kp.zero();
      return false;
    }
    pending.clear();
    this.pending = null;
    this.host.indices.promote(index, kp);
    // The initiator may send at once. An unconfirmed responder session becomes `previous` so packets the other
    // side already sent on it still decrypt; otherwise the old current does.
    if (this.next_ !== null) {
      this.drop(this.previous_);
      this.previous_ = this.next_;
      this.next_ = null;
      this.drop(this.current_);
    } else {
      this.drop(this.previous_);
      this.previous_ = this.current_;
    }
    this.current_ = kp;
    const t = this.timers;
    t.anyAuthenticatedPacketReceived();
    t.anyAuthenticatedPacketTraversal(now);
    t.sessionDerived(now);
    this.handshakeComplete(now);
    return true;
  }

  /** Engine: our static key changed (or was removed). Recomputes the static-static DH and forgets every session
   *  and handshake made with the old one. */
  localKeyChanged(): void {
    const local = this.host.local;
    this.isSelf_ = local !== null && equalBytes(local.publicKey, this.publicKey);
    if (local === null || this.isSelf_ || !this.host.crypto.x25519.sharedSecret(local.key, this.publicKey, scratch)) {
      scratch.fill(0);
    }
    this.bytes.set(scratch, STATIC_STATIC_AT);
    scratch.fill(0);
    this.eraseSessions();
    this.lastSentInitiation = -Infinity;
  }

  /** Engine: the peer is removed. Erases everything and frees its indices. */
  destroy(): void {
    this.removed = true;
    this.eraseSessions();
    this.timers.stop();
    this.timers.zeroAt = Infinity;
    this.bytes.fill(0);
    this.cookies_?.zero();
    this.cookies_ = null;
  }

  /** The shell's interface went down: sessions and any handshake in progress are erased and every timer stops
   *  (the persistent keepalive interval stays configured); the next initiation may go out at once. */
  stop(): void {
    this.eraseSessions();
    this.timers.stop();
    this.timers.zeroAt = Infinity;
    this.lastSentInitiation = -Infinity;
  }

  private confirmNext(now: number): void {
    this.drop(this.previous_);
    this.previous_ = this.current_;
    this.current_ = this.next_;
    this.next_ = null;
    this.handshakeComplete(now);
  }

  private handshakeComplete(now: number): void {
    this.timers.handshakeComplete();
    this.rekeyRequestedOnReceive = false;
    this.lastHandshake_ = now;
  }

  private abandonInitiation(): void {
    const pending = this.pending;
    if (pending === null) return;
    if (pending.ephemeral !== null) this.host.indices.free(pending.localIndex);
    pending.clear();
    this.pending = null;
  }

  private drop(kp: Keypair<Peer> | null): void {
    if (kp === null) return;
    this.host.indices.free(kp.localIndex);
    kp.zero();
  }

  private eraseSessions(): void {
    this.abandonInitiation();
    this.drop(this.previous_);
    this.drop(this.current_);
    this.drop(this.next_);
    this.previous_ = this.current_ = this.next_ = null;
  }
}
