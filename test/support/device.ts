// The set-up of the device-level tests: a Device on in-memory stand-ins (tuntest.ts, bindtest.ts) or on what the
// test gives it, configured through the configuration protocol's parser as `wg set` would configure it, and a
// remote protocol engine with a key of its own to talk to it.
import type { Aead } from "../../src/crypto/aead.ts";
import { defaultSuite, systemRandom } from "../../src/crypto/suite.ts";
import { Device } from "../../src/device/device.ts";
import type { TunDevice } from "../../src/device/io.ts";
import { Logger } from "../../src/device/log.ts";
import { Engine } from "../../src/noise/index.ts";
import { applySet } from "../../src/uapi/set.ts";
import { MemoryBind } from "./bindtest.ts";
import { MemoryTun } from "./tuntest.ts";

/** A device named `name` on `tun` (an in-memory one by default) with `bind` (likewise) as its socket. */
export function memoryDevice(name: string, aead: Aead,
  opts: { tun?: TunDevice; bind?: MemoryBind; random?: (out: Uint8Array) => void } = {}) {
  const dev = new Device(opts.tun ?? new MemoryTun(name), aead, new Logger(name, "silent"), "silent", opts.random ?? systemRandom);
  const bind = opts.bind ?? new MemoryBind(0);
  dev.udp = bind;
  return { dev, bind };
}

/** Applies `wg set`-style lines (key=value, src/uapi/set.ts) to the device's configuration; throws when refused. */
export function configure(dev: Device, lines: string[]): void {
  const set = applySet(dev.config, lines, { derivePublicKey: (k) => dev.engine.publicKeyOf(k) });
  if (!set.ok) throw new Error(`configuration refused: ${set.message}`);
  dev.applyConfig(set.config, set.changes);
}

/** A protocol engine with a fresh private key: the far side of a device's peer. */
export function remoteEngine(aead: Aead): Engine {
  const engine = new Engine({ crypto: defaultSuite({ aead }) });
  engine.setPrivateKey(crypto.getRandomValues(new Uint8Array(32)));
  return engine;
}
