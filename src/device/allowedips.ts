// Cryptokey routing (whitepaper §2): each peer owns a set of IP prefixes. Outgoing packets go to the peer owning the
// longest prefix matching the destination; incoming packets are accepted only if the peer that sent them owns the
// longest prefix matching their source. One prefix has exactly one owner: inserting a prefix another peer holds moves
// it (as wg(8) and the kernel do).
//
// Layout: a binary trie with path compression (a node stores its whole prefix, so chains of single-child nodes are
// skipped), one for IPv4 and one for IPv6. Addresses are handled as big-endian 32-bit words (1 for IPv4, 4 for IPv6)
// so matching a node is a few XOR/AND operations and the lookup allocates nothing. Depth is bounded by the number of
// distinct branching points on the path (≈ log2 of the table size for scattered prefixes), not by the prefix length.
// Large IPv4 tables (a peer carrying a full routing table) add a 2^16-entry jump index on the first 16 address bits:
// a lookup starts at the first node of length ≥ 16 on its path, skipping ~15 of its ~18 levels and their cache misses.
// The index is rebuilt lazily by the first lookup after a change (a few ms), so bulk inserts stay linear.

import type { AllowedIp } from "../text/codec.ts";

class TrieNode<T> {
  // Fields are assigned in the order lookups read them (key, mask, value, child choice, children), so a lookup
  // touches the start of each node only. IPv4 nodes use k0/m0; k1..k3/m1..m3 stay 0.
  k0: number;
  m0: number;
  value: T | undefined;
  bw: number; // the bit right after the prefix chooses the child: word index…
  bs: number; // …and right shift
  c0: TrieNode<T> | null;
  c1: TrieNode<T> | null;
  k1: number; k2: number; k3: number;
  m1: number; m2: number; m3: number;
  parent: TrieNode<T> | null;
  // The owner's prefixes form a circular list through their nodes (AllowedIps.owned holds its first), in the order
  // given: cheaper than a Set per owner (bench/RESULTS.md, "Memory").
  ownNext: TrieNode<T> | null;
  ownPrev: TrieNode<T> | null;
  readonly cidr: number;
  readonly maxBits: number; // 32 (IPv4 trie) or 128 (IPv6 trie)

  constructor(w: Int32Array, cidr: number, maxBits: number) {
    this.m0 = maskWord(cidr, 0);
    this.k0 = w[0] & this.m0;
    this.value = undefined;
    // At full length there is no next bit and no children; keep the fields in range anyway.
    this.bw = cidr < maxBits ? cidr >>> 5 : 0;
    this.bs = cidr < maxBits ? 31 - (cidr & 31) : 0;
    this.c0 = this.c1 = null;
    this.m1 = maskWord(cidr, 1); this.m2 = maskWord(cidr, 2); this.m3 = maskWord(cidr, 3);
    this.k1 = w[1] & this.m1; this.k2 = w[2] & this.m2; this.k3 = w[3] & this.m3;
    this.parent = null;
    this.ownNext = this.ownPrev = null;
    this.cidr = cidr;
    this.maxBits = maxBits;
  }
}

// Mask of the first `cidr` bits, restricted to word `i` (bits 32i..32i+31), as an int32.
function maskWord(cidr: number, i: number): number {
  const bits = cidr - 32 * i;
  if (bits <= 0) return 0;
  if (bits >= 32) return -1;
  return ~(-1 >>> bits) | 0;
}

function keyWord<T>(n: TrieNode<T>, i: number): number {
  return i === 0 ? n.k0 : i === 1 ? n.k1 : i === 2 ? n.k2 : n.k3;
}

function matches<T>(w: Int32Array, n: TrieNode<T>): boolean {
  return (((w[0] ^ n.k0) & n.m0) | ((w[1] ^ n.k1) & n.m1) | ((w[2] ^ n.k2) & n.m2) | ((w[3] ^ n.k3) & n.m3)) === 0;
}

function bitAt<T>(w: Int32Array, n: TrieNode<T>): number {
  return (w[n.bw] >>> n.bs) & 1;
}

// IPv4 tables with at least this many prefixes use the jump index (below, the walk from the root is short anyway).
const JUMP_MIN_PREFIXES = 1024;
const JUMP_BITS = 16;

export class AllowedIps<T> {
  private root4: TrieNode<T> | null = null;
  private root6: TrieNode<T> | null = null;
  private count4 = 0;
  // Jump index: for each value of the first 16 bits, the first node of length ≥ 16 on the path and the best value
  // found above it. Built by the first lookup once the table is large; dropped by any IPv4 change (null = stale), so
  // a stale index never keeps removed nodes or their owners alive (a removed peer must be collectable).
  private jumpNode: Array<TrieNode<T> | null> | null = null;
  private jumpBest: Array<T | undefined> | null = null;
  // value → the first of its nodes (a circular list in insertion order through ownNext/ownPrev), so `entries` is
  // stable and `removeValue` is O(own prefixes).
  private readonly owned = new Map<T, TrieNode<T>>();
  // Scratch words for insert/remove and for IPv6 lookups; reused so no call allocates for them.
  private readonly w = new Int32Array(4);
  private readonly lw = new Int32Array(4);

  /** Number of prefixes in the table. */
  get size(): number {
    let n = 0;
    for (const head of this.owned.values()) {
      let node = head;
      do n++, (node = node.ownNext!);
      while (node !== head);
    }
    return n;
  }

  /** Adds addr/cidr for value; an existing identical prefix moves to value. Host bits of addr are ignored. */
  insert(addr: Uint8Array, cidr: number, value: T): void {
    if (value === undefined) throw new TypeError("allowed IPs: the value must not be undefined");
    const maxBits = this.load(addr, cidr);
    const w = this.w;
    let parent: TrieNode<T> | null = null;
    let node = maxBits === 32 ? this.root4 : this.root6;
    while (node !== null && node.cidr <= cidr && matches(w, node)) {
      if (node.cidr === cidr) {
        this.own(node, value);
        return;
      }
      parent = node;
      node = bitAt(w, node) === 0 ? node.c0 : node.c1;
    }
    const fresh = new TrieNode<T>(w, cidr, maxBits);
    if (node === null) {
      this.link(parent, fresh);
    } else {
      // node does not lie on our prefix: branch where the two first differ (never deeper than either prefix).
      let common = maxBits;
      for (let i = 0; i < 4; i++) {
        const x = w[i] ^ keyWord(node, i);
        if (x !== 0) {
          common = 32 * i + Math.clz32(x);
          break;
        }
      }
      common = Math.min(common, cidr, node.cidr);
      if (common === cidr) {
        // The new prefix contains node's: it becomes node's parent.
        this.replace(parent, node, fresh);
        this.link(fresh, node);
      } else {
        const glue = new TrieNode<T>(w, common, maxBits);
        this.replace(parent, node, glue);
        this.link(glue, node);
        this.link(glue, fresh);
      }
    }
    this.own(fresh, value);
  }

  /** Removes addr/cidr (exact prefix, host bits ignored) only if value owns it; returns whether it did. */
  remove(addr: Uint8Array, cidr: number, value: T): boolean {
    const node = this.find(addr, cidr);
    if (node === null || node.value !== value) return false;
    this.unlinkValue(node);
    return true;
  }

  /** Removes every prefix value owns. */
  removeValue(value: T): void {
    while (true) {
      const head = this.owned.get(value);
      if (head === undefined) return;
      this.unlinkValue(head);
    }
  }

  /** The owner of exactly addr/cidr (not a longest-prefix match), or undefined. */
  owner(addr: Uint8Array, cidr: number): T | undefined {
    return this.find(addr, cidr)?.value;
  }

  /** value's prefixes, in the order they were first given to it. */
  entries(value: T): AllowedIp[] {
    const head = this.owned.get(value);
    const out: AllowedIp[] = [];
    if (head === undefined) return out;
    let n = head;
    do out.push({ addr: wordsToBytes(n, n.maxBits >>> 3), cidr: n.cidr }), (n = n.ownNext!);
    while (n !== head);
    return out;
  }

  clear(): void {
    this.root4 = this.root6 = null;
    this.owned.clear();
    this.count4 = 0;
    this.jumpNode = this.jumpBest = null;
  }

  // Longest-prefix match on the IPv4 address at buf[off..off+4] (e.g. a packet's source at offset 12, destination
  // at 16). Hot path: no allocation.
  lookupV4(buf: Uint8Array, off: number): T | undefined {
    const a = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
    let node = this.root4;
    let best: T | undefined;
    if (this.count4 >= JUMP_MIN_PREFIXES) {
      if (this.jumpNode === null) this.rebuildJump();
      node = this.jumpNode![a >>> (32 - JUMP_BITS)];
      best = this.jumpBest![a >>> (32 - JUMP_BITS)];
    }
    while (node !== null) {
      if (((a ^ node.k0) & node.m0) !== 0) break;
      if (node.value !== undefined) best = node.value;
      node = ((a >>> node.bs) & 1) === 0 ? node.c0 : node.c1;
    }
    return best;
  }

  // Longest-prefix match on the IPv6 address at buf[off..off+16] (source at 8, destination at 24). No allocation.
  lookupV6(buf: Uint8Array, off: number): T | undefined {
    const w = this.lw;
    for (let i = 0; i < 4; i++, off += 4) {
      w[i] = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
    }
    const w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    let node = this.root6;
    let best: T | undefined;
    while (node !== null) {
      if ((((w0 ^ node.k0) & node.m0) | ((w1 ^ node.k1) & node.m1) | ((w2 ^ node.k2) & node.m2) | ((w3 ^ node.k3) & node.m3)) !== 0) break;
      if (node.value !== undefined) best = node.value;
      node = ((w[node.bw] >>> node.bs) & 1) === 0 ? node.c0 : node.c1;
    }
    return best;
  }

  /** Longest-prefix match of a 4- or 16-byte address. */
  lookup(addr: Uint8Array): T | undefined {
    if (addr.length === 4) return this.lookupV4(addr, 0);
    if (addr.length === 16) return this.lookupV6(addr, 0);
    throw new RangeError(`allowed IPs: expected a 4- or 16-byte address, got ${addr.length} bytes`);
  }

  // Loads addr into the scratch words; returns the family's bit length.
  private load(addr: Uint8Array, cidr: number): number {
    const maxBits = addr.length === 4 ? 32 : addr.length === 16 ? 128 : 0;
    if (maxBits === 0) throw new RangeError(`allowed IPs: expected a 4- or 16-byte address, got ${addr.length} bytes`);
    if (!Number.isInteger(cidr) || cidr < 0 || cidr > maxBits) {
      throw new RangeError(`allowed IPs: expected a prefix length 0-${maxBits}, got ${cidr}`);
    }
    const w = this.w;
    w.fill(0);
    for (let i = 0; i < addr.length; i += 4) {
      w[i >>> 2] = (addr[i] << 24) | (addr[i + 1] << 16) | (addr[i + 2] << 8) | addr[i + 3];
    }
    return maxBits;
  }

  private find(addr: Uint8Array, cidr: number): TrieNode<T> | null {
    const maxBits = this.load(addr, cidr);
    const w = this.w;
    let node = maxBits === 32 ? this.root4 : this.root6;
    while (node !== null && node.cidr <= cidr && matches(w, node)) {
      if (node.cidr === cidr) return node;
      node = bitAt(w, node) === 0 ? node.c0 : node.c1;
    }
    return null;
  }

  private rebuildJump(): void {
    const n = 1 << JUMP_BITS;
    const nodes = new Array<TrieNode<T> | null>(n).fill(null);
    const bests = new Array<T | undefined>(n).fill(undefined);
    for (let h = 0; h < n; h++) {
      const a = h << (32 - JUMP_BITS);
      let node = this.root4;
      let best: T | undefined;
      // Nodes shorter than 16 bits are decided by the first 16 bits alone.
      while (node !== null && node.cidr < JUMP_BITS) {
        if (((a ^ node.k0) & node.m0) !== 0) {
          node = null;
          break;
        }
        if (node.value !== undefined) best = node.value;
        node = ((a >>> node.bs) & 1) === 0 ? node.c0 : node.c1;
      }
      nodes[h] = node;
      bests[h] = best;
    }
    this.jumpNode = nodes;
    this.jumpBest = bests;
  }

  private own(node: TrieNode<T>, value: T): void {
    const prev = node.value;
    if (prev === value) return;
    if (node.maxBits === 32) {
      this.jumpNode = this.jumpBest = null;
      if (prev === undefined) this.count4++;
    }
    if (prev !== undefined) this.disown(node, prev);
    node.value = value;
    const head = this.owned.get(value);
    if (head === undefined) {
      node.ownNext = node.ownPrev = node;
      this.owned.set(value, node);
    } else {
      const tail = head.ownPrev!;
      tail.ownNext = node;
      node.ownPrev = tail;
      node.ownNext = head;
      head.ownPrev = node;
    }
  }

  private disown(node: TrieNode<T>, value: T): void {
    const next = node.ownNext!, prev = node.ownPrev!;
    if (next === node) this.owned.delete(value);
    else {
      prev.ownNext = next;
      next.ownPrev = prev;
      if (this.owned.get(value) === node) this.owned.set(value, next);
    }
    node.ownNext = node.ownPrev = null;
  }

  // Makes child a child of parent (or the root), on the side chosen by child's bit at parent's length.
  private link(parent: TrieNode<T> | null, child: TrieNode<T>): void {
    child.parent = parent;
    if (parent === null) {
      if (child.maxBits === 32) this.root4 = child;
      else this.root6 = child;
      return;
    }
    const k = keyWord(child, parent.bw);
    if (((k >>> parent.bs) & 1) === 0) parent.c0 = child;
    else parent.c1 = child;
  }

  // Puts `next` (or nothing) where `old` hangs under parent.
  private replace(parent: TrieNode<T> | null, old: TrieNode<T>, next: TrieNode<T> | null): void {
    if (next !== null) next.parent = parent;
    if (parent === null) {
      if (old.maxBits === 32) this.root4 = next;
      else this.root6 = next;
    } else if (parent.c0 === old) parent.c0 = next;
    else parent.c1 = next;
  }

  // Drops node's value, then removes nodes that no longer branch: a valueless node must have two children.
  private unlinkValue(node: TrieNode<T>): void {
    if (node.maxBits === 32) {
      this.jumpNode = this.jumpBest = null;
      this.count4--;
    }
    this.disown(node, node.value!);
    node.value = undefined;
    if (node.c0 !== null && node.c1 !== null) return;
    const parent = node.parent;
    const child = node.c0 ?? node.c1;
    this.replace(parent, node, child);
    node.parent = node.c0 = node.c1 = null;
    if (child === null && parent !== null && parent.value === undefined) {
      // parent was a branching node; with one child left it is redundant.
      const only = parent.c0 ?? parent.c1;
      this.replace(parent.parent, parent, only);
      parent.parent = parent.c0 = parent.c1 = null;
    }
  }
}

function wordsToBytes<T>(n: TrieNode<T>, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i += 4) {
    const k = keyWord(n, i >>> 2);
    out[i] = k >>> 24; out[i + 1] = k >>> 16; out[i + 2] = k >>> 8; out[i + 3] = k;
  }
  return out;
}
