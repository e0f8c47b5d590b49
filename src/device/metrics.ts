// The counters of counters.ts served over HTTP in Prometheus' text exposition format (version 0.0.4), opt-in:
// `bunwg --metrics ADDR:PORT IFNAME` or BUNWG_METRICS=ADDR:PORT. GET /metrics answers; the listening socket is
// bound before anything else of the daemon exists, so a taken port stops the start with nothing half made.
import {
  COOKIES_SENT, DROP_BASE, DROP_REASONS, HS_COMPLETED, HS_FAILED, HS_INITIATED, RX_BYTES, RX_PACKETS, TX_BYTES, TX_PACKETS,
  WIRE_RX_BYTES, WIRE_TX_BYTES, type CounterSnapshot,
} from "./counters.ts";

export const METRICS_ENV = "BUNWG_METRICS";
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsAddress { hostname: string; port: number; text: string }

/** "127.0.0.1:9586", "[::1]:9586", "localhost:9586". An address is required: metrics are not served on every
 *  interface by accident. */
export function parseMetricsAddress(text: string): MetricsAddress {
  const m = text.match(/^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/) ?? text.match(/^([A-Za-z0-9.-]+):(\d{1,5})$/);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new Error(`metrics address ${JSON.stringify(text)}: expected ADDR:PORT with a port 1-65535, e.g. 127.0.0.1:9586 or [::1]:9586`);
  }
  return { hostname: m[1], port, text };
}

// [slot, metric name suffix, help]. Bytes and packets are the IP packets carried (as ifconfig counts them).
const TRAFFIC: [number, string, string][] = [
  [RX_PACKETS, "receive_packets_total", "IP packets decrypted, checked and written to the interface."],
  [RX_BYTES, "receive_bytes_total", "Bytes of those IP packets."],
  [TX_PACKETS, "transmit_packets_total", "IP packets read from the interface and sealed for a peer."],
  [TX_BYTES, "transmit_bytes_total", "Bytes of those IP packets (before padding)."],
  [WIRE_RX_BYTES, "wire_receive_bytes_total", "UDP payload bytes received, handshake messages included (wg show's transfer)."],
  [WIRE_TX_BYTES, "wire_transmit_bytes_total", "UDP payload bytes sent, handshake messages included (wg show's transfer)."],
  [HS_INITIATED, "handshakes_initiated_total", "Handshake initiations sent."],
  [HS_COMPLETED, "handshakes_completed_total", "Handshakes that gave a session: an initiation of ours answered, or a response sent."],
  [HS_FAILED, "handshakes_failed_total", "Initiations of ours that went unanswered for REKEY_TIMEOUT (5 s)."],
];
/** Reasons a peer can be blamed for; the others only exist per interface. */
const PEER_DROPS = DROP_REASONS.filter((r) => !["no_route", "tun_write", "interface_down", "rate_limited"].includes(r));

function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function base64OfHex(hex: string): string {
  return Buffer.from(hex, "hex").toString("base64");
}

/** The exposition text for one interface. */
export function formatMetrics(ifname: string, s: CounterSnapshot): string {
  const out: string[] = [];
  const iface = `interface="${label(ifname)}"`;
  const family = (name: string, type: "counter" | "gauge", help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const peerLabels = s.peers.map((p) => `${iface},peer="${label(base64OfHex(p.publicKeyHex))}"`);
  for (const [slot, suffix, help] of TRAFFIC) {
    family(`bunwg_interface_${suffix}`, "counter", `${help} All peers, removed ones included.`);
    out.push(`bunwg_interface_${suffix}{${iface}} ${s.device[slot]}`);
  }
  family("bunwg_interface_cookie_replies_sent_total", "counter", "Cookie replies sent under load (whitepaper 5.4.7).");
  out.push(`bunwg_interface_cookie_replies_sent_total{${iface}} ${s.device[COOKIES_SENT]}`);
  family("bunwg_interface_dropped_packets_total", "counter", "Packets dropped, by reason (src/device/counters.ts DROP_REASONS).");
  DROP_REASONS.forEach((r, i) => out.push(`bunwg_interface_dropped_packets_total{${iface},reason="${r}"} ${s.device[DROP_BASE + i]}`));
  family("bunwg_interface_peers", "gauge", "Peers configured.");
  out.push(`bunwg_interface_peers{${iface}} ${s.peers.length}`);
  if (s.peers.length > 0) {
    for (const [slot, suffix, help] of TRAFFIC) {
      family(`bunwg_peer_${suffix}`, "counter", help);
      s.peers.forEach((p, k) => out.push(`bunwg_peer_${suffix}{${peerLabels[k]}} ${p.values[slot]}`));
    }
    family("bunwg_peer_dropped_packets_total", "counter", "Packets from or for this peer dropped, by reason.");
    s.peers.forEach((p, k) => {
      for (const r of PEER_DROPS) out.push(`bunwg_peer_dropped_packets_total{${peerLabels[k]},reason="${r}"} ${p.values[DROP_BASE + DROP_REASONS.indexOf(r)]}`);
    });
  }
  return `${out.join("\n")}\n`;
}

export interface MetricsServer { readonly url: string; close(): void }

/** Listens on addr; throws an error naming the address when it cannot (in use, not local, no permission). */
/** read() gives null while the device is still starting (answered 503). */
export function serveMetrics(addr: MetricsAddress, ifname: string, read: () => CounterSnapshot | null): MetricsServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: addr.hostname,
      port: addr.port,
      reusePort: false,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (req.method !== "GET" && req.method !== "HEAD") return new Response("only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
        if (path === "/metrics") {
          const s = read();
          if (s === null) return new Response("starting\n", { status: 503, headers: { "retry-after": "1" } });
          return new Response(formatMetrics(ifname, s), { headers: { "content-type": CONTENT_TYPE } });
        }
        if (path === "/") return new Response(`bunwg ${ifname}: metrics at /metrics\n`);
        return new Response("not found: metrics are at /metrics\n", { status: 404 });
      },
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "EADDRINUSE" ? "the address is already in use"
      : err.code === "EADDRNOTAVAIL" ? "no local interface has that address"
      : err.code === "EACCES" ? "permission denied" : err.message;
    throw new Error(`metrics: cannot listen on ${addr.text}: ${why}`);
  }
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return { url: `http://${host}:${server.port}/metrics`, close: () => server.stop(true) };
}
