// Carries out one `ifconfig IFNAME WORDS…` plan: create the daemon, move the interface to its namespace (rdomain),
// send the configuration in one set request, then the address / MTU / up-down steps, in the order given.
// A command that created the interface and then failed removes it again, so a failure leaves nothing half-made.
import { existsSync, rmSync } from "node:fs";
import { CliError, requireRoot } from "./errors.ts";
import { DaemonErrno, daemonAnswers, setLines } from "./configSocket.ts";
import { socketPath } from "../uapi/socket.ts";
import { readDevice, type DeviceView } from "./deviceView.ts";
import { ip, linkInfo, locate, netnsExists } from "./iproute.ts";
import { startDaemon, waitDaemonGone } from "./daemonProcess.ts";
import { buildSetLines, endpointText } from "./setRequest.ts";
import type { LinkOp, Plan } from "./words.ts";

/** True when nothing can bind the UDP port (v4 or v6): checked before create so a busy port fails early. */
export async function udpPortInUse(port: number): Promise<boolean> {
  for (const hostname of ["0.0.0.0", "::"]) {
    try {
      const s = await Bun.udpSocket({ hostname, port });
      s.close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EADDRINUSE" || /in use/i.test(String(e))) return true;
    }
  }
  return false;
}

async function interfaceExists(ifname: string): Promise<boolean> {
  if (existsSync(socketPath(ifname)) && (await daemonAnswers(ifname))) return true;
  return linkInfo(null, ifname) !== null;
}

/** Moves the interface from namespace `from` (null: ours) to `to` ("" : ours), creating `to` if absent. */
function moveToNamespace(ifname: string, from: string | null, to: string): string | null {
  if ((from ?? "") === to) return from;
  if (to !== "" && !netnsExists(to)) ip(null, ["netns", "add", to], `rdomain ${to}`);
  // "netns PID" names the namespace of that process: ours, where the daemon and its socket live.
  ip(from, ["link", "set", "dev", ifname, "netns", to === "" ? String(process.pid) : to], `rdomain ${to || "0"}`);
  return to === "" ? null : to;
}

function applyLinkOp(ifname: string, ns: string | null, op: LinkOp): void {
  switch (op.kind) {
    case "address": {
      const cidr = `${op.prefix.address}/${op.prefix.bits}`;
      // "replace" makes repeating a command harmless, as re-adding an address is on OpenBSD.
      const bcast = op.broadcast ? ["broadcast", op.broadcast] : [];
      ip(ns, ["addr", "replace", cidr, ...bcast, "dev", ifname], `address ${op.text}`);
      // OpenBSD brings an interface up when it is given an address.
      ip(ns, ["link", "set", "dev", ifname, "up"], `address ${op.text}`);
      break;
    }
    case "up":
    case "down":
      ip(ns, ["link", "set", "dev", ifname, op.kind], op.kind);
      break;
    case "mtu":
      ip(ns, ["link", "set", "dev", ifname, "mtu", String(op.mtu)], `mtu ${op.mtu}`);
      break;
    case "description":
      // Linux keeps an interface's description as its alias (ifalias).
      ip(ns, ["link", "set", "dev", ifname, "alias", op.text], `description ${op.text}`);
      break;
  }
}

/** Deletes the interface; its daemon exits. Only interfaces a daemon serves (a socket exists) are touched. */
export async function destroyInterface(ifname: string): Promise<void> {
  const path = socketPath(ifname);
  if (!existsSync(path)) {
    const other = linkInfo(null, ifname) ? " (an interface of that name exists, but no WireGuard daemon serves it)" : "";
    throw new CliError(`${ifname}: no such interface: no configuration socket ${path}${other}`);
  }
  let device: DeviceView | null = null;
  try {
    device = await readDevice(ifname);
  } catch {
    // Stale socket: the daemon is gone; the file is removed below.
  }
  const ns = device ? locate(ifname, device.rdomain) : undefined;
  if (ns !== undefined) ip(ns, ["link", "del", "dev", ifname], `${ifname} destroy`);
  if (!(await waitDaemonGone(ifname))) {
    // The daemon outlived its interface (or never had one): removing its socket file also makes it exit.
    rmSync(path, { force: true });
    if (!(await waitDaemonGone(ifname))) throw new CliError(`${ifname} destroy: the daemon did not exit after its interface and socket were removed`);
  }
}

/** Applies a configuring plan (see words.ts). */
export async function applyPlan(ifname: string, plan: Plan): Promise<void> {
  requireRoot(`${ifname}`);
  if (plan.destroy) return destroyInterface(ifname);

  // Everything that can be checked before touching anything: host names, a busy port, an existing interface.
  for (const p of plan.peers) if (p.endpoint) await endpointText(p.endpoint);
  if (plan.create) {
    if (await interfaceExists(ifname)) throw new CliError(`${ifname} create: interface already exists`);
  }
  let current: DeviceView | null = plan.create ? null : await readDevice(ifname);
  if (plan.listenPort && plan.listenPort !== current?.listenPort && (await udpPortInUse(plan.listenPort))) {
    throw new CliError(`wgport ${plan.listenPort}: UDP port already in use`);
  }
  if (current && plan.extensionWords.length > 0 && !current.extensions) throw extensionsMissing(ifname, plan);

  let created = false;
  try {
    if (plan.create) {
      await startDaemon(ifname);
      created = true;
      current = await readDevice(ifname);
      if (plan.extensionWords.length > 0 && !current.extensions) throw extensionsMissing(ifname, plan);
    }
    const device = current!;
    const lines = await buildSetLines(plan, device, device.extensions);

    let ns: string | null | undefined = undefined;
    if (plan.rdomain !== undefined || plan.link.length > 0) {
      ns = locate(ifname, device.rdomain);
      if (ns === undefined) throw interfaceMissing(ifname, device.rdomain);
      if (plan.rdomain !== undefined) ns = moveToNamespace(ifname, ns, plan.rdomain);
    }
    try {
      await setLines(ifname, lines);
    } catch (e) {
      if (e instanceof DaemonErrno && e.errno === 98 && plan.listenPort !== undefined) {
        throw new CliError(`wgport ${plan.listenPort}: UDP port already in use`);
      }
      throw e;
    }
    for (const op of plan.link) applyLinkOp(ifname, ns ?? null, op);
  } catch (e) {
    if (created) await destroyInterface(ifname).catch(() => {});
    throw e;
  }
}

function interfaceMissing(ifname: string, rdomain: string): CliError {
  if (rdomain && !netnsExists(rdomain)) {
    return new CliError(`${ifname}: network namespace ${rdomain} (its rdomain) is missing: was it deleted with the interface in it?`);
  }
  return new CliError(`${ifname}: the daemon is running but its interface was not found in any network namespace`);
}

function extensionsMissing(ifname: string, plan: Plan): CliError {
  return new CliError(
    `${plan.extensionWords.join(", ")}: needs bunwg's daemon (bunwg_* configuration keys), but the daemon serving ${ifname} answered only get=1 (another WireGuard implementation)`,
  );
}
