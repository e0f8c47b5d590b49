// The public API of the sans-IO WireGuard protocol core.

export * from "./constants.ts";
export { Engine, type EngineOptions, type HandshakeOutcome, type InitiationDetail, type RejectReason } from "./engine.ts";
export { Peer, type InitiationRefusal, type TimerAction } from "./peer.ts";
import type { Keypair as KeypairOf } from "./keypair.ts";
import type { Peer } from "./peer.ts";
/** A session (keypair.ts) of one of an engine's peers. */
export type Keypair = KeypairOf<Peer>;
export { clampPrivateKey } from "./keys.ts";
export type { SessionObserver } from "./indextable.ts";
export { isZero } from "./primitives.ts";
export type { Blake2sFunctions, HandshakeAead, NoiseCrypto, X25519, X25519PrivateKey, XAead } from "./crypto.ts";
export {
  COOKIE_REPLY,
  INITIATION,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  RESPONSE,
  TRANSPORT,
  messageType,
  readCounter,
  readCounterWords,
  readIndex,
  readIndexWords,
  readU32,
  WORDS_LITTLE_ENDIAN,
  writeTransportHeader,
  writeTransportHeaderWords,
} from "./messages.ts";
