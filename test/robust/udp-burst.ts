// Run inside a test's namespace (udp-path.test.ts): sends one batch far larger than the socket's send buffer
// through the native sendBatch to a local port behind a delaying qdisc, and prints what sendBatch reports.
import { Udp } from "../../src/device/udp.ts";
import { EP_SIZE, Endpoint } from "../../src/device/endpoint.ts";

const [dst, portText, countText, sizeText] = process.argv.slice(2);
const n = Number(countText), size = Number(sizeText);
const tx = Udp.open(0, { gso: true, gro: false });
const buf = new Uint8Array(n * size);
const offs = new Uint32Array(n), lens = new Uint32Array(n), eps = new Uint8Array(n * EP_SIZE);
const to = Endpoint.fromAddress(dst!, Number(portText), 4);
for (let i = 0; i < n; i++) {
  offs[i] = i * size;
  lens[i] = size;
  eps.set(to.rec, i * EP_SIZE);
}
const sent = tx.sendBatch(buf, offs, lens, eps, n);
tx.close();
console.log(JSON.stringify({ sent }));
