// The device: one TUN interface, one UDP socket, a protocol engine and its peers. It owns the live state that a
// configuration request changes (applyConfig is the only writer) and schedules the engine's timer deadlines
// (§6) on Bun's event loop with a single timer set to the earliest deadline.
import { Engine, type Peer as NoisePeer } from "../noise/index.ts";
import type { Aead } from "../crypto/aead.ts";
import { defaultSuite } from "../crypto/suite.ts";
import { AllowedIps } from "./allowedips.ts";
import { ConfigError, EADDRINUSE, EINVAL } from "../config/errors.ts";
import { emptyDeviceConfig, type DeviceConfig, type PeerConfig } from "../config/model.ts";
import type { ConfigChanges } from "../config/diff.ts";
import { keyToHex } from "../text/codec.ts";
import { DevicePeer } from "./peer.ts";
import { DeviceCounters } from "./counters.ts";
import { Sender } from "./send.ts";
import { Pump } from "./pump.ts";
import { Receiver } from "./receive.ts";
import { Udp, PortInUseError } from "./udp.ts";
import { Endpoint } from "./endpoint.ts";
import { RouteWatch } from "./route.ts";
import type { Logger, LogLevel } from "./log.ts";
import type { OpenBind, TunDevice, UdpBind } from "./io.ts";
import type { DataPathHost } from "./host.ts";
import { LinkWatch, type LinkState } from "./link.ts";
import { Workers, nativeTun } from "./workers.ts";

/** Each step of the fast data path can be switched off, to measure what it gives (bench/, BUNWG_NO_* variables). */
export interface DataPathOptions {
  gso: boolean;  // UDP_SEGMENT sends
  gro: boolean;  // UDP_GRO receives
  pump: boolean; // wait for packets on the event-loop thread while traffic flows (pump.ts)
  counters?: boolean; // per-peer and per-interface counters (counters.ts); off only to measure their cost
  /** Data-plane threads including the JS thread (threads.ts): 1 = no worker threads. */
  threads?: number;
}
export const DEFAULT_DATA_PATH: DataPathOptions = { gso: true, gro: true, pump: true };

/** Largest MTU followed: an inner packet must fit a 64 KiB TUN read slot (batch.ts STRIDE). */
const MAX_MTU = 65535 - 80;

function endpointOf(pc: PeerConfig): Endpoint | null {
  return pc.endpoint ? Endpoint.fromAddress(pc.endpoint.address, pc.endpoint.port, pc.endpoint.family) : null;
}

export class Device implements DataPathHost {
  readonly engine: Engine;
  readonly allowedIps = new AllowedIps<DevicePeer>();
  readonly peers = new Map<string, DevicePeer>();
  readonly sender: Sender;
  readonly receiver: Receiver;
  readonly counters: DeviceCounters;
  udp: UdpBind | null = null;
  /** How a UDP socket is bound (the real one; a test may hand in-memory ones, test/support/bindtest.ts). */
  openBind: OpenBind = (port) => Udp.open(port, this.options);
  private routes: RouteWatch | null = null;
  /** The interface's MTU in force (followed through `link`): §5.4.6 padding stops there. */
  mtu: number;
  /** The interface's up/down state is the device's, as in the kernel's and wireguard-go's: while down nothing is
   *  sent or accepted. A device whose link is not followed (start() not called) counts as up. */
  up = true;
  private link: LinkWatch | null = null;
  config: DeviceConfig = emptyDeviceConfig();

  private touched: DevicePeer[] = [];
  private epoch = 0;
  private wakeAt = Infinity;
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;
  closed = false;
  private readonly pump: Pump;
  /** The worker threads that seal, open, send and write large batches (workers.ts); null with --threads 1. */
  workers: Workers | null = null;
  /** Called once when the device cannot go on (its interface was deleted). */
  onFatal: (reason: string) => void = () => {};

  constructor(readonly tun: TunDevice, readonly aead: Aead, readonly log: Logger, private readonly baseLevel: LogLevel,
              random: (out: Uint8Array) => void, readonly options: DataPathOptions = DEFAULT_DATA_PATH, mtu = 1420) {
    this.engine = new Engine({ crypto: defaultSuite({ aead, random }) }); // swap a backend here (src/crypto/)
    this.counters = new DeviceCounters(options.counters !== false);
    this.mtu = mtu; // before the Sender, which sizes its slots by it
    this.sender = new Sender(this);
    this.receiver = new Receiver(this, this.sender);
    this.pump = new Pump(this, this.sender, this.receiver, options.pump);
  }

  /** Binds the initial UDP socket (port 0: a free one, as wireguard-go does before configuration) and starts
   *  following the interface's link state (a fresh interface is down until `ip link set up`). */
  start(): void {
    const threads = this.options.threads ?? 1;
    // Workers reach the TUN and the socket through their native handles; in-memory ones (tests) stay on this thread.
    if (threads > 1 && nativeTun(this.tun) !== null) {
      this.workers = Workers.start(threads - 1);
      if (this.workers === null) this.log.error(`Could not start ${threads - 1} data-plane worker threads: running single-threaded`);
      else this.engine.indices.observer = this.workers; // before any session exists: the workers see them all
    }
    this.udp = this.bind(0);
    this.config = { ...this.config, listenPort: this.udp.port };
    this.tun.onReadable(this.pump.wake);
    try {
      this.routes = RouteWatch.open(this.revalidateSources);
    } catch (e) {
      this.log.error(`Sticky source addresses will not follow route changes: ${(e as Error).message}`);
    }
    this.link = LinkWatch.start(this.tun.fd, this.tun.name, (s) => this.linkChanged(s));
    this.tun.onDownWrite = () => this.link?.kick();
    const s = this.link.state();
    if (s.known) this.linkChanged(s);
    else this.setUp(false);
  }

  private linkChanged(s: LinkState & { known?: boolean }): void {
    if (this.closed) return;
    if (s.deleted) return this.onFatal("interface deleted");
    if (s.known === false) return; // between namespaces: keep the last state
    if (s.mtu > 0 && s.mtu !== this.mtu) {
      this.mtu = Math.min(s.mtu, MAX_MTU);
      this.sender.grow(this.mtu);
      this.log.info(`MTU updated: ${s.mtu}${s.mtu > MAX_MTU ? ` (too large, capped at ${MAX_MTU})` : ""}`);
    }
    this.setUp(s.up);
  }

  /** Whether the link is up as the kernel has it now, applied if it changed. The link thread's callback can come
   *  tens of milliseconds after `ip link set up` on a loaded machine (the thread waits to be scheduled), after the
   *  first packets read from the TUN or datagrams received — which would otherwise be dropped as meant for a down
   *  interface, and a first handshake lost for REKEY_TIMEOUT (test/robust/link.test.ts). */
  linkUpNow(): boolean {
    if (!this.up && this.link !== null) {
      const s = this.link.lookNow();
      if (s.known) this.linkChanged(s);
    }
    return this.up;
  }

  /**
   * Brings the device up or down with its interface. Down: every peer's sessions, handshakes in progress, timers
   * and staged packets are dropped, and nothing is sent or accepted. Up: peers with persistent keepalive send one
   * at once (and so handshake), as do peers with staged packets.
   */
  setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.counters.linkDown = !up;
    this.log.info(`Interface ${this.tun.name} ${up ? "up" : "down"}`);
    const now = performance.now();
    for (const peer of this.peers.values()) {
      if (up) this.startPeer(peer, now);
      else {
        peer.staged.clear();
        peer.noise.stop();
      }
    }
    this.runDueTimers(now);
  }

  /** The last piece needed to reach a peer is in place (link up, private key, endpoint): what waits goes now. */
  private startPeer(peer: DevicePeer, now: number): void {
    if (!this.up || !this.engine.hasPrivateKey) return;
    if (peer.noise.persistentKeepalive > 0) this.sender.sendKeepalive(peer, now);
    else if (peer.staged.length > 0) peer.noise.wantHandshake(now);
    this.touch(peer);
  }

  /** Whether replies to ep may keep the local address the peer reached us at: only while the route to the peer
   *  from that address leaves through the interface it was learned on, and the address is still ours (route.ts) —
   *  as wireguard-go re-checks its sticky sources on route changes. */
  private sourceHolds(ep: Endpoint): boolean {
    return this.routes === null || this.routes.outputInterface(ep.seen, this.config.fwmark) === ep.sourceInterface;
  }

  /** An endpoint learned from an authenticated packet: its source is used only if it holds (sourceHolds). */
  checkSource(ep: Endpoint): Endpoint {
    if (ep.learnedSource() && !this.sourceHolds(ep)) ep.clearSource();
    return ep;
  }

  /** After a route, address or link change: stop using each learned source that no longer holds, and use again
   *  one that holds again (the route back through its interface was restored). */
  private readonly revalidateSources = (): void => {
    if (this.closed || this.routes === null) return;
    for (const peer of this.peers.values()) {
      const ep = peer.endpoint;
      if (ep === null || !ep.learnedSource()) continue;
      const holds = this.sourceHolds(ep);
      if (holds && !ep.hasSource()) ep.restoreSource();
      else if (!holds && ep.hasSource()) {
        this.log.debug(`Route to peer ${peer.name} (${ep}) changed: letting the kernel choose the source address`);
        ep.clearSource();
      }
    }
  };

  /** Sources learned on another socket or for another endpoint are not to be trusted (as wireguard-go on rebind). */
  private clearSources(): void {
    for (const peer of this.peers.values()) peer.endpoint?.forgetSource();
  }

  private bind(port: number): UdpBind {
    const udp = this.openBind(port);
    udp.onReadable(this.pump.wake);
    return udp;
  }

  /** The device peer of a protocol peer (noise/peer.ts `shell`, set while the peer is configured). */
  peerOf(noise: NoisePeer): DevicePeer | undefined { return (noise.shell as DevicePeer | null) ?? undefined; }

  // ---- timers (§6): the engine says when; we keep one timer at the earliest deadline.
  touch(peer: DevicePeer): void {
    if (peer.touchedEpoch !== this.epoch) {
      peer.touchedEpoch = this.epoch;
      this.touched.push(peer);
    }
  }

  runDueTimers(now: number): void {
    const list = this.touched;
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      if (p.noise.nextDeadline() <= now) this.runPeerTimers(p, now);
      const d = p.noise.nextDeadline();
      if (d < this.wakeAt) this.schedule(d, now);
    }
    list.length = 0;
    this.epoch++;
  }

  private schedule(at: number, now: number): void {
    if (this.closed) return;
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(this.onWake, Math.max(0, Math.ceil(at - now)));
  }

  private readonly onWake = () => {
    this.wakeTimer = null;
    this.wakeAt = Infinity;
    if (this.closed) return;
    const now = performance.now();
    let next = Infinity;
    for (const p of this.peers.values()) {
      if (p.noise.nextDeadline() <= now) this.runPeerTimers(p, now);
      const d = p.noise.nextDeadline();
      if (d < next) next = d;
    }
    this.runDueTimers(now);
    if (next < this.wakeAt && next !== Infinity) this.schedule(next, now);
  };

  private runPeerTimers(peer: DevicePeer, now: number): void {
    if (!this.up) return peer.noise.stop(); // a timer armed by configuration while down: nothing runs until up
    for (const action of peer.noise.tick(now)) {
      switch (action.kind) {
        case "initiation":
          if (action.retry) this.log.debug(`Handshake for peer ${peer.name} did not complete after 5 seconds, retrying`);
          if (peer.endpoint === null || this.udp === null) {
            this.log.debug(`Failed to send handshake initiation: no known endpoint for peer ${peer.name}`);
            break;
          }
          this.log.debug(`Sending handshake initiation to peer ${peer.name}`);
          if (!this.udp.sendBytes(action.packet, peer.endpoint)) this.log.error(`Failed to send handshake initiation to peer ${peer.name} (${peer.endpoint})`);
          peer.counters.initiated(action.retry);
          peer.txBytes += action.packet.length;
          break;
        case "keepalive":
          this.sender.sendKeepalive(peer, now);
          break;
        case "gave-up":
          peer.counters.gaveUp(peer.staged.length);
          peer.staged.clear();
          break;
        case "zeroed": // §6.3: the keys are erased; what waited for a session goes with them
          peer.staged.clear();
          break;
        default:
          break;
      }
    }
  }

  // ---- configuration: validated by src/uapi/set.ts (applySet), applied here, all or nothing.
  /** Applies a validated configuration. The only step that can fail — binding a new port — comes first. */
  applyConfig(next: DeviceConfig, changes: ConfigChanges): void {
    const boundPort = this.udp?.port ?? 0;
    // listen_port=0 asks for a fresh free port (as wireguard-go); the configuration then records the bound one.
    if (next.listenPort !== boundPort) {
      let udp: UdpBind | null = null;
      try {
        udp = this.bind(next.listenPort);
        if (next.fwmark) udp.setFwmark(next.fwmark);
      } catch (e) {
        udp?.close();
        if (e instanceof PortInUseError) throw new ConfigError(EADDRINUSE, e.message);
        throw new ConfigError(EINVAL, (e as Error).message);
      }
      // No worker may still send through, or receive from, the old socket (its descriptor number may be reused).
      this.sender.settle();
      this.receiver.settle();
      this.udp?.close();
      this.udp = udp;
      this.clearSources();
      next = { ...next, listenPort: udp.port };
    } else if (changes.fwmark && this.udp !== null) {
      try { this.udp.setFwmark(next.fwmark); } catch (e) { throw new ConfigError(EINVAL, (e as Error).message); }
    }
    const now = performance.now();
    const hadKey = this.engine.hasPrivateKey;
    if (changes.privateKey) this.engine.setPrivateKey(next.privateKey);
    // The private key arrived on an up interface: what waited for it starts (peers added below start on their own).
    if (!hadKey && this.engine.hasPrivateKey) for (const peer of this.peers.values()) this.startPeer(peer, now);
    for (const pc of changes.removed) {
      const peer = this.peers.get(keyToHex(pc.publicKey));
      if (peer) this.removePeer(peer);
    }
    for (const pc of changes.added) {
      const noise = this.engine.addPeer(pc.publicKey);
      const peer = new DevicePeer(noise, keyToHex(pc.publicKey), this.counters.newPeer());
      this.peers.set(peer.publicKeyHex, peer);
      noise.setPresharedKey(pc.presharedKey);
      peer.endpoint = endpointOf(pc);
      for (const a of pc.allowedIps) this.allowedIps.insert(a.addr, a.cidr, peer);
      this.keepaliveChanged(peer, 0, pc.persistentKeepalive, now);
    }
    for (const ch of changes.changed) {
      const peer = this.peers.get(keyToHex(ch.peer.publicKey));
      if (!peer) continue;
      if (ch.presharedKey) peer.noise.setPresharedKey(ch.peer.presharedKey);
      if (ch.endpoint) {
        const had = peer.endpoint !== null;
        peer.endpoint = endpointOf(ch.peer);
        // The last missing piece arrived: what waits goes now (packets staged while the peer had no endpoint made
        // no handshake attempt, noise/peer.ts).
        if (!had && peer.endpoint !== null) this.startPeer(peer, now);
      }
      // Removing only what the peer owns first, then adding, gives the same table in either order (config/diff.ts).
      for (const a of ch.allowedIpsRemoved) this.allowedIps.remove(a.addr, a.cidr, peer);
      for (const a of ch.allowedIpsAdded) this.allowedIps.insert(a.addr, a.cidr, peer);
      if (ch.persistentKeepalive) this.keepaliveChanged(peer, ch.old.persistentKeepalive, ch.peer.persistentKeepalive, now);
    }
    if (changes.debug) this.log.setDebug(next.debug, this.baseLevel);
    this.config = next;
    if (changes.fwmark) this.revalidateSources(); // the mark selects the routing (policy rules)
    this.runDueTimers(now);
  }

  private keepaliveChanged(peer: DevicePeer, before: number, after: number, now: number): void {
    peer.noise.setPersistentKeepalive(after, now);
    // Like wireguard-go: turning persistent keepalive on sends one at once (and so handshakes, §6.5).
    if (before === 0 && after > 0) this.startPeer(peer, now);
    this.touch(peer);
  }

  private removePeer(peer: DevicePeer): void {
    this.counters.retire(peer);
    this.allowedIps.removeValue(peer);
    this.engine.removePeer(peer.noise.publicKey);
    this.peers.delete(peer.publicKeyHex);
    peer.noise.shell = null;
    peer.staged.clear();
  }

  /** The configuration as `get` reports it: live endpoints (they roam) and live listen port. */
  snapshot(): DeviceConfig {
    const peers = this.config.peers.map((pc) => {
      const live = this.peers.get(keyToHex(pc.publicKey));
      const ep = live?.endpoint;
      return ep ? { ...pc, endpoint: { address: ep.address, port: ep.port, family: ep.family } } : pc;
    });
    return { ...this.config, listenPort: this.udp?.port ?? this.config.listenPort, peers };
  }

  /** Per-peer statistics for `get`, as wg(8) reads them. */
  stats(publicKey: Uint8Array): { lastHandshakeSec: number; lastHandshakeNsec: number; rxBytes: number; txBytes: number } {
    const peer = this.peers.get(keyToHex(publicKey));
    if (!peer) return { lastHandshakeSec: 0, lastHandshakeNsec: 0, rxBytes: 0, txBytes: 0 };
    const at = peer.noise.lastHandshake;
    let sec = 0, nsec = 0;
    if (at > 0) {
      const wallMs = Date.now() - (performance.now() - at);
      sec = Math.floor(wallMs / 1000);
      nsec = Math.floor((wallMs - sec * 1000) * 1e6);
    }
    return { lastHandshakeSec: sec, lastHandshakeNsec: nsec, rxBytes: peer.rxBytes, txBytes: peer.txBytes };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.wakeTimer !== null) clearTimeout(this.wakeTimer);
    this.routes?.close();
    this.routes = null;
    this.link?.stop(); // before the TUN fd closes
    this.link = null;
    // Every queued batch runs and the threads are joined before the socket, the TUN and the buffers go: no worker
    // touches any of them afterwards (batches still to be checked here are dropped with the device).
    this.engine.indices.observer = null; // the workers' copies of the keys go with the pool
    this.workers?.stop();
    this.workers = null;
    this.udp?.close();
    this.udp = null;
    for (const peer of this.peers.values()) this.removePeer(peer);
    this.engine.setPrivateKey(null);
    this.tun.close();
  }
}
