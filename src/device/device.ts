// The device: one TUN interface, one UDP socket, a protocol engine and its peers. It owns the live state that a
// configuration request changes (applyConfig is the only writer) and schedules the engine's timer deadlines
// (§6) on Bun's event loop with a single timer set to the earliest deadline.
import { Engine, type Peer as NoisePeer } from "../noise/index.ts";
import type { Aead } from "../crypto/aead.ts";
import { AllowedIps } from "./allowedips.ts";
import { emptyDeviceConfig, keyToHex, type ConfigChanges, type DeviceConfig, type PeerConfig } from "./uapi.ts";
import { DevicePeer } from "./peer.ts";
import { DeviceCounters } from "./counters.ts";
import { Sender } from "./send.ts";
import { Pump } from "./pump.ts";
import { Receiver } from "./receive.ts";
import { Udp, PortInUseError } from "./udp.ts";
import { Endpoint } from "./endpoint.ts";
import type { Logger, LogLevel } from "./log.ts";
import type { Tun } from "./tun.ts";

export class ConfigError extends Error {
  constructor(readonly errno: number, message: string) { super(message); }
}
export const EADDRINUSE = 98;
export const EINVAL = 22;

/** Each step of the fast data path can be switched off, to measure what it gives (bench/, BUNWG_NO_* variables). */
export interface DataPathOptions {
  gso: boolean;  // UDP_SEGMENT sends
  gro: boolean;  // UDP_GRO receives
  pump: boolean; // wait for packets on the event-loop thread while traffic flows (pump.ts)
  counters?: boolean; // per-peer and per-interface counters (counters.ts); off only to measure their cost
}
export const DEFAULT_DATA_PATH: DataPathOptions = { gso: true, gro: true, pump: true };

function endpointOf(pc: PeerConfig): Endpoint | null {
  return pc.endpoint ? Endpoint.fromAddress(pc.endpoint.address, pc.endpoint.port, pc.endpoint.family) : null;
}

export class Device {
  readonly engine: Engine;
  readonly allowedIps = new AllowedIps<DevicePeer>();
  readonly peers = new Map<string, DevicePeer>();
  private readonly byNoise = new Map<NoisePeer, DevicePeer>();
  readonly sender: Sender;
  readonly receiver: Receiver;
  readonly counters: DeviceCounters;
  udp: Udp | null = null;
  mtu: number;
  config: DeviceConfig = emptyDeviceConfig();

  private touched: DevicePeer[] = [];
  private epoch = 0;
  private wakeAt = Infinity;
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;
  closed = false;
  private readonly pump: Pump;
  /** Called once when the device cannot go on (its interface was deleted). */
  onFatal: (reason: string) => void = () => {};

  constructor(readonly tun: Tun, readonly aead: Aead, readonly log: Logger, private readonly baseLevel: LogLevel,
              random: (out: Uint8Array) => void, readonly options: DataPathOptions = DEFAULT_DATA_PATH, mtu = 1420) {
    this.engine = new Engine({ aead, random });
    this.counters = new DeviceCounters(options.counters !== false);
    this.sender = new Sender(this);
    this.receiver = new Receiver(this);
    this.pump = new Pump(this, options.pump);
    this.mtu = mtu;
  }

  /** Binds the initial UDP socket (port 0: a free one, as wireguard-go does before configuration). */
  start(): void {
    this.udp = this.bind(0);
    this.config = { ...this.config, listenPort: this.udp.port };
    this.tun.onReadable(this.pump.wake);
  }

  private bind(port: number): Udp {
    const udp = Udp.open(port, this.options);
    udp.onReadable(this.pump.wake);
    return udp;
  }

  peerOf(noise: NoisePeer): DevicePeer | undefined { return this.byNoise.get(noise); }

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
      const p = list[i]!;
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
    for (const action of peer.noise.tick(now)) {
      switch (action.kind) {
        case "initiation":
          if (action.retry) this.log.debug(`Handshake for peer ${peer.name} did not complete after 5 seconds, retrying`);
          if (peer.endpoint === null || this.udp === null) {
            this.log.debug(`Failed to send handshake initiation: no known endpoint for peer ${peer.name}`);
            break;
          }
          this.log.debug(`Sending handshake initiation to peer ${peer.name}`);
          this.udp.sendBytes(action.packet, peer.endpoint);
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
        default:
          break;
      }
    }
  }

  // ---- configuration: validated by uapi.ts (applySet), applied here, all or nothing.
  /** Applies a validated configuration. The only step that can fail — binding a new port — comes first. */
  applyConfig(next: DeviceConfig, changes: ConfigChanges): void {
    const boundPort = this.udp?.port ?? 0;
    // listen_port=0 asks for a fresh free port (as wireguard-go); the configuration then records the bound one.
    if (next.listenPort !== boundPort) {
      let udp: Udp | null = null;
      try {
        udp = this.bind(next.listenPort);
        if (next.fwmark) udp.setFwmark(next.fwmark);
      } catch (e) {
        udp?.close();
        if (e instanceof PortInUseError) throw new ConfigError(EADDRINUSE, e.message);
        throw new ConfigError(EINVAL, (e as Error).message);
      }
      this.udp?.close();
      this.udp = udp;
      next = { ...next, listenPort: udp.port };
    } else if (changes.fwmark && this.udp !== null) {
      try { this.udp.setFwmark(next.fwmark); } catch (e) { throw new ConfigError(EINVAL, (e as Error).message); }
    }
    const now = performance.now();
    if (changes.privateKey) this.engine.setPrivateKey(next.privateKey);
    for (const pc of changes.removed) {
      const peer = this.peers.get(keyToHex(pc.publicKey));
      if (peer) this.removePeer(peer);
    }
    for (const pc of changes.added) {
      const noise = this.engine.addPeer(pc.publicKey);
      const peer = new DevicePeer(noise, keyToHex(pc.publicKey), this.counters.newPeer());
      this.peers.set(peer.publicKeyHex, peer);
      this.byNoise.set(noise, peer);
      noise.setPresharedKey(pc.presharedKey);
      peer.endpoint = endpointOf(pc);
      for (const a of pc.allowedIps) this.allowedIps.insert(a.addr, a.cidr, peer);
      this.keepaliveChanged(peer, 0, pc.persistentKeepalive, now);
    }
    for (const ch of changes.changed) {
      const peer = this.peers.get(keyToHex(ch.peer.publicKey));
      if (!peer) continue;
      if (ch.presharedKey) peer.noise.setPresharedKey(ch.peer.presharedKey);
      if (ch.endpoint) peer.endpoint = endpointOf(ch.peer);
      // Removing only what the peer owns first, then adding, gives the same table in either order (uapi.ts).
      for (const a of ch.allowedIpsRemoved) this.allowedIps.remove(a.addr, a.cidr, peer);
      for (const a of ch.allowedIpsAdded) this.allowedIps.insert(a.addr, a.cidr, peer);
      if (ch.persistentKeepalive) this.keepaliveChanged(peer, ch.old.persistentKeepalive, ch.peer.persistentKeepalive, now);
    }
    if (changes.debug) this.log.setDebug(next.debug, this.baseLevel);
    this.config = next;
    this.runDueTimers(now);
  }

  private keepaliveChanged(peer: DevicePeer, before: number, after: number, now: number): void {
    peer.noise.setPersistentKeepalive(after, now);
    // Like wireguard-go: turning persistent keepalive on sends one at once (and so handshakes, §6.5).
    if (before === 0 && after > 0 && this.engine.privateKey !== null) this.sender.sendKeepalive(peer, now);
    this.touch(peer);
  }

  private removePeer(peer: DevicePeer): void {
    this.counters.retire(peer);
    this.allowedIps.removeValue(peer);
    this.engine.removePeer(peer.noise.publicKey);
    this.peers.delete(peer.publicKeyHex);
    this.byNoise.delete(peer.noise);
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
    this.udp?.close();
    this.udp = null;
    for (const peer of this.peers.values()) this.removePeer(peer);
    this.engine.setPrivateKey(null);
    this.tun.close();
  }
}
