// Wire layouts of the four WireGuard messages (§5.4.2–§5.4.7). All integers little-endian; every message starts
// with a type byte and three reserved zero bytes.

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

// §5.4.2 handshake initiation, 148 bytes.
export const INITIATION = {
  sender: 4,
  ephemeral: 8,
  static: 40, // 32 + 16
  timestamp: 88, // 12 + 16
  mac1: 116,
  mac2: 132,
  size: 148,
} as const;

// §5.4.3 handshake response, 92 bytes.
export const RESPONSE = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  empty: 44, // 0 + 16
  mac1: 60,
  mac2: 76,
  size: 92,
} as const;

// §5.4.7 cookie reply, 64 bytes.
export const COOKIE_REPLY = {
  receiver: 4,
  nonce: 8, // 24
  cookie: 32, // 16 + 16
  size: 64,
} as const;

// §5.4.6 transport data: header, then the encrypted packet padded to 16 bytes, then the 16-byte tag.
export const TRANSPORT = {
  receiver: 4,
  counter: 8,
  header: 16,
  minSize: 32, // a keepalive: header + tag
} as const;

const SIZES = [0, INITIATION.size, RESPONSE.size, COOKIE_REPLY.size];

/** The type of a well-formed message (1–4), or 0 when the type is unknown, a reserved byte is set, or the size is
 *  wrong for the type. Transport messages only need the minimum size; their padding is the shell's affair. */
export function messageType(msg: Uint8Array): number {
  if (msg.length < 4 || msg[1] !== 0 || msg[2] !== 0 || msg[3] !== 0) return 0;
  const type = msg[0];
  if (type === MESSAGE_TRANSPORT) return msg.length >= TRANSPORT.minSize ? type : 0;
  if (type >= MESSAGE_INITIATION && type <= MESSAGE_COOKIE_REPLY && msg.length === SIZES[type]) return type;
  return 0;
}

export function readU32(msg: Uint8Array, at: number): number {
  return (msg[at] | (msg[at + 1] << 8) | (msg[at + 2] << 16) | (msg[at + 3] << 24)) >>> 0;
}

/** A session index (§5.4.2: 32 random bits) as the same bits read signed, the form indextable.ts keys on. Read
 *  unsigned, half of all indices are ≥ 2^31: not 32-bit integers to JavaScriptCore, whose optimised receive path,
 *  compiled for the small ones it saw first, then left its code on every packet (docs/threads.md, "Session
 *  indices read signed"). */
export function readIndex(msg: Uint8Array, at: number): number {
  return msg[at] | (msg[at + 1] << 8) | (msg[at + 2] << 16) | (msg[at + 3] << 24);
}

export function writeU32(msg: Uint8Array, at: number, v: number): void {
  msg[at] = v;
  msg[at + 1] = v >>> 8;
  msg[at + 2] = v >>> 16;
  msg[at + 3] = v >>> 24;
}

/** Writes the type byte and the three reserved zero bytes. */
export function writeHeader(msg: Uint8Array, type: number): void {
  msg[0] = type;
  msg[1] = 0;
  msg[2] = 0;
  msg[3] = 0;
}

/** The counter of a transport message (u64 little-endian at offset 8). Counters ≥ 2^53 come back inexact but
 *  ≥ REJECT_AFTER_MESSAGES, so they are still refused (see constants.ts). */
export function readCounter(msg: Uint8Array, at = 0): number {
  // The unsigned conversion is done here, not by readU32: what readU32 meets elsewhere (indices ≥ 2^31) then does
  // not make this per-packet read of small numbers compile for large ones (readIndex).
  const c = at + TRANSPORT.counter;
  return (readIndex(msg, c) >>> 0) + (readIndex(msg, c + 4) >>> 0) * 0x100000000;
}

/** Whether this host keeps 32-bit words little-endian, as the messages do: then a transport header at a 4-byte-aligned
 *  offset is read and written a word at a time (the *Words functions below), where the byte-wise forms cost the data
 *  path a call per field (docs/threads.md, "Per-packet JavaScript, word-wise"). */
export const WORDS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** writeTransportHeader for a header at word w of `words` (byte offset 4w), on a little-endian host. Writing a number
 *  to an Int32Array keeps the low 32 bits of its integer part: the index in either form, each word of the counter. */
export function writeTransportHeaderWords(words: Int32Array, w: number, receiverIndex: number, counter: number): void {
  words[w] = MESSAGE_TRANSPORT; // the type byte, then three zero bytes
  words[w + 1] = receiverIndex;
  words[w + 2] = counter;
  words[w + 3] = counter / 0x100000000;
}

/** readIndex of the receiver field of a transport header at word w, on a little-endian host. */
export function readIndexWords(words: Int32Array, w: number): number {
  return words[w + 1];
}

/** readCounter of a transport header at word w, on a little-endian host. */
export function readCounterWords(words: Int32Array, w: number): number {
  return (words[w + 2] >>> 0) + (words[w + 3] >>> 0) * 0x100000000;
}

/** Writes a transport header (§5.4.6) at buf[at..at+16]. The receiver index may be given unsigned or as its signed
 *  32-bit form (Keypair.remoteIndexBits): the same four bytes. */
export function writeTransportHeader(buf: Uint8Array, at: number, receiverIndex: number, counter: number): void {
  buf[at] = MESSAGE_TRANSPORT;
  buf[at + 1] = 0;
  buf[at + 2] = 0;
  buf[at + 3] = 0;
  writeU32(buf, at + TRANSPORT.receiver, receiverIndex);
  writeU32(buf, at + TRANSPORT.counter, counter >>> 0);
  writeU32(buf, at + TRANSPORT.counter + 4, Math.floor(counter / 0x100000000));
}
