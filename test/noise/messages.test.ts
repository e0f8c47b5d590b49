// The transport header's codec (src/noise/messages.ts): the word-wise forms the data path uses on little-endian
// hosts must give the same bytes and values as the byte-wise ones, for every index (as given unsigned or signed)
// and for counters beyond 32 bits.
import { describe, expect, test } from "bun:test";
import {
  WORDS_LITTLE_ENDIAN, readCounter, readCounterWords, readIndex, readIndexWords, writeTransportHeader, writeTransportHeaderWords,
} from "../../src/noise/messages.ts";

const INDICES = [0, 1, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff, -1, -0x80000000];
const COUNTERS = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x1234567890, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];

describe("transport header, word-wise", () => {
  test("this host is little-endian (x86-64 and arm64, the builds of zig/): the word-wise forms are in use", () => {
    expect(WORDS_LITTLE_ENDIAN).toBe(true);
  });

  test("writeTransportHeaderWords writes the bytes writeTransportHeader writes", () => {
    for (const index of INDICES) {
      for (const counter of COUNTERS) {
        const bytes = new Uint8Array(48).fill(0xaa), words = new Uint8Array(48).fill(0xaa);
        writeTransportHeader(bytes, 16, index, counter);
        writeTransportHeaderWords(new Int32Array(words.buffer), 4, index, counter);
        expect([...words]).toEqual([...bytes]);
        // and nothing around it
        expect(words[15]).toBe(0xaa);
        expect(words[32]).toBe(0xaa);
      }
    }
  });

  test("readIndexWords and readCounterWords read what the byte-wise forms read", () => {
    for (const index of INDICES) {
      for (const counter of COUNTERS) {
        const msg = new Uint8Array(64);
        writeTransportHeader(msg, 32, index, counter);
        const w = new Int32Array(msg.buffer);
        expect(readIndexWords(w, 8)).toBe(readIndex(msg, 32 + 4));
        expect(readIndexWords(w, 8)).toBe(index | 0);
        expect(readCounterWords(w, 8)).toBe(readCounter(msg, 32));
        expect(readCounterWords(w, 8)).toBe(counter);
      }
    }
  });
});
