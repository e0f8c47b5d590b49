// What the data path (send.ts, receive.ts, pump.ts) needs of the device, and nothing more: its two sides, the
// cryptokey routing table (§2), the protocol engine, the link state, the counters and the timers. device.ts is the
// host; a test builds one from the in-memory sides (test/support/tuntest.ts, bindtest.ts).
import type { Engine, Peer as NoisePeer } from "../noise/index.ts";
import type { Aead } from "../crypto/aead.ts";
import type { AllowedIps } from "./allowedips.ts";
import type { DeviceCounters } from "./counters.ts";
import type { Endpoint } from "./endpoint.ts";
import type { TunDevice, UdpBind } from "./io.ts";
import type { Logger } from "./log.ts";
import type { DevicePeer } from "./peer.ts";
import type { Workers } from "./workers.ts";

export interface DataPathHost {
  readonly tun: TunDevice;
  /** null while no socket is bound. */
  readonly udp: UdpBind | null;
  /** The batched transport AEAD (the handshake's is the engine's). */
  readonly aead: Aead;
  /** Worker threads for large batches (workers.ts), or null: everything on this thread. */
  readonly workers: Workers | null;
  readonly engine: Engine;
  readonly allowedIps: AllowedIps<DevicePeer>;
  readonly counters: DeviceCounters;
  readonly log: Logger;
  /** The interface's MTU in force: §5.4.6 padding stops there. */
  readonly mtu: number;
  /** The link is up: while down nothing is sent or accepted. */
  readonly up: boolean;
  /** `up`, asked of the kernel again when it says down (device.ts). */
  linkUpNow(): boolean;
  readonly closed: boolean;
  peerOf(noise: NoisePeer): DevicePeer | undefined;
  /** The peer's timers may have a new deadline (runDueTimers looks at the touched peers). */
  touch(peer: DevicePeer): void;
  runDueTimers(now: number): void;
  /** An endpoint learned from an authenticated packet, its source address kept only where it still holds. */
  checkSource(ep: Endpoint): Endpoint;
  /** The device cannot go on (its interface was deleted). */
  onFatal(reason: string): void;
}
