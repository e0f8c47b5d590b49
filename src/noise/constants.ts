// Protocol constants of WireGuard (whitepaper §5.4, §6.1). All times are milliseconds, like every `now` in src/noise.

// §5.4: Noise_IKpsk2 construction and WireGuard's identifier and labels, as ASCII bytes.
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
export const CONSTRUCTION = ascii("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s");
export const IDENTIFIER = ascii("WireGuard v1 zx2c4 Jason@zx2c4.com");
export const LABEL_MAC1 = ascii("mac1----");
export const LABEL_COOKIE = ascii("cookie--");
// §5.4.2: the initial chaining key C0 = HASH(CONSTRUCTION) and hash H0 = HASH(C0 ‖ IDENTIFIER). Written out so the
// core computes nothing before an Engine hands it its cryptography (test/noise/spec.test.ts derives them again).
const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!, (b) => parseInt(b, 16));
export const INITIAL_CHAIN_KEY = hex("60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
export const INITIAL_HASH = hex("2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");

// §6.1. REKEY-AFTER-MESSAGES is 2^60 and REJECT-AFTER-MESSAGES 2^64 − 2^13 − 1, but counters here are JS numbers,
// exact only below 2^53. We refuse to send or accept a counter ≥ 2^53 − 1 instead: reaching it takes 2.8 years at
// 100 Mpps, while REJECT_AFTER_TIME ends every session after 180 s, so no real peer ever gets near either limit.
export const REKEY_AFTER_MESSAGES = 2 ** 60;
export const REJECT_AFTER_MESSAGES = Number.MAX_SAFE_INTEGER;

export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;

// §6.2: retries are spaced by REKEY_TIMEOUT plus up to a third of a second of jitter (wireguard-go and the kernel
// both use 334 ms), which keeps peers that lost the same packet from retrying in lockstep.
export const REKEY_TIMEOUT_JITTER_MAX = 334;
// §6.4: key material is erased after three REJECT_AFTER_TIMEs without a new handshake.
export const ZERO_KEYS_AFTER = 3 * REJECT_AFTER_TIME;
// §6.4: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT retries before giving up.
export const MAX_HANDSHAKE_ATTEMPTS = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
// §6.2: an initiator whose session is this old rekeys when it receives (REJECT − KEEPALIVE − REKEY_TIMEOUT = 165 s),
// so a session in one-way use is renewed before it expires.
export const REKEY_ON_RECEIVE_AFTER = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
// §5.1: at most one initiation per peer is processed in this many ms (wireguard-go: 1 s / 50); it bounds the CPU a
// replaying attacker can make us spend on one peer.
export const INITIATIONS_MIN_INTERVAL = 20;

// §5.4.6 / RFC 6479: counters this far behind the newest one received are rejected (wireguard-go's value).
export const REPLAY_WINDOW = 8128;

// §5.3 rate limiting of handshakes under load, per source IP (wireguard-go's values).
export const RATE_LIMIT_PER_SECOND = 20;
export const RATE_LIMIT_BURST = 5;

// §5.4 sizes.
export const KEY_LENGTH = 32;
export const MAC_LENGTH = 16;
export const AEAD_TAG_LENGTH = 16;
export const TAI64N_LENGTH = 12;
