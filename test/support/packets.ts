// Inner packets built by hand, for tests that send exactly the packet they mean through a tunnel.

/** An ICMP echo request (IPv4) from src to dst with an identifier the test can find again. */
export function icmpEcho(src: string, dst: string, id: number, seq = 1, payload = 32): Uint8Array {
  const p = new Uint8Array(28 + payload);
  p[0] = 0x45;
  p[2] = p.length >>> 8; p[3] = p.length & 0xff;
  p[8] = 64; p[9] = 1;
  p.set(src.split(".").map(Number), 12);
  p.set(dst.split(".").map(Number), 16);
  p.set(checksum(p.subarray(0, 20)), 10);
  p[20] = 8; // echo request
  p[24] = id >>> 8; p[25] = id & 0xff;
  p[26] = seq >>> 8; p[27] = seq & 0xff;
  for (let i = 28; i < p.length; i++) p[i] = i;
  p.set(checksum(p.subarray(20)), 22);
  return p;
}

/** An IPv6 UDP packet from src to dst (16-byte hex addresses). */
export function udp6(srcHex: string, dstHex: string, payload = 16): Uint8Array {
  const p = new Uint8Array(48 + payload);
  p[0] = 0x60;
  p[4] = (8 + payload) >>> 8; p[5] = (8 + payload) & 0xff;
  p[6] = 17; p[7] = 64;
  p.set(Buffer.from(srcHex, "hex"), 8);
  p.set(Buffer.from(dstHex, "hex"), 24);
  p[40] = 0x30; p[41] = 0x39; p[42] = 0x30; p[43] = 0x39; // ports 12345
  p[44] = (8 + payload) >>> 8; p[45] = (8 + payload) & 0xff;
  return p;
}

function checksum(b: Uint8Array): Uint8Array {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  return new Uint8Array([c >>> 8, c & 0xff]);
}
