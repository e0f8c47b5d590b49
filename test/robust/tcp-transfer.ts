// A TCP transfer whose completion is checked end to end: `serve ADDR PORT` reads one connection to its end and
// answers with the byte count and SHA-256 of what it got; `send ADDR PORT BYTES` sends that many random bytes and
// prints {"sent", "hash", "reply"} as JSON. Run each side in its namespace with `ip netns exec`.
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer } from "node:net";

const [mode, addr, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
if (mode === "serve" && addr) {
  const h = createHash("sha256");
  let n = 0;
  const server = createServer((c) => {
    c.on("data", (d) => { n += d.length; h.update(d); });
    c.on("end", () => { c.end(`${n} ${h.digest("hex")}\n`); server.close(); });
  });
  server.listen(port, addr, () => console.log("ready"));
} else if (mode === "send" && addr && bytesText) {
  const data = randomBytes(Number(bytesText));
  const hash = createHash("sha256").update(data).digest("hex");
  let reply = "";
  const c = connect(port, addr, () => c.end(data));
  c.on("data", (d) => { reply += d.toString(); });
  c.on("end", () => console.log(JSON.stringify({ sent: data.length, hash, reply: reply.trim() })));
  c.on("error", (e) => { console.error(e.message); process.exit(1); });
} else {
  console.error("usage: bun tcp-transfer.ts serve ADDR PORT | send ADDR PORT BYTES");
  process.exit(2);
}
