// Route changes, for the sticky source addresses (zig/src/route.zig). A peer's endpoint pins the local address
// the peer reached us at (endpoint.ts); after the routing changes, that address may leave through an interface
// it does not belong to, or not be ours any more. On every route, address or link notification the device asks
// the kernel, per pinned endpoint, which interface it would send through now, and forgets the source where that
// is not the one the address was learned on: the kernel then chooses, and the peer's next packet pins again.
// (Comparing interfaces rather than clearing on every notification keeps stickiness on busy routing tables.)
import { loadNative, type Native } from "../native/lib.ts";
import { PollThread, READABLE } from "../native/pollThread.ts";

export class RouteWatch {
  private poller: PollThread | null = null;
  private closed = false;

  private constructor(private readonly native: Native, private readonly watchFd: number, private readonly queryFd: number) {}

  /** Calls onChange (on the JS thread) after routes, addresses or links changed. Throws when netlink is refused. */
  static open(onChange: () => void): RouteWatch {
    const native = loadNative();
    const watchFd = native.sym.bunwg_route_open_watch();
    if (watchFd < 0) throw new Error(`route notifications: netlink socket refused (errno ${-watchFd})`);
    const queryFd = native.sym.bunwg_route_open_query();
    if (queryFd < 0) {
      native.sym.bunwg_route_close(watchFd);
      throw new Error(`route queries: netlink socket refused (errno ${-queryFd})`);
    }
    const w = new RouteWatch(native, watchFd, queryFd);
    try {
      w.poller = new PollThread(native, watchFd, "route notifications", (event) => {
        if (w.closed) return;
        const changes = native.sym.bunwg_route_drain(watchFd);
        if (changes !== 0 || event !== READABLE) onChange(); // lost notifications or an error: re-checking is always safe
        if (w.closed) return;
        // Netlink reports an overrun as a socket error, which parks the poll thread for good: start a fresh one.
        if (event !== READABLE) w.poller?.restart();
        else w.poller?.rearm();
      });
    } catch (e) {
      w.closeFds();
      throw e;
    }
    return w;
  }

  /** The interface index the kernel would send through to rec's remote address from its pinned local address
   *  (endpoint record, endpoint.ts), or -errno (the address is no longer local, no route). */
  outputInterface(rec: Uint8Array, fwmark: number): number {
    if (this.closed) return -9; // EBADF
    return this.native.sym.bunwg_route_output_interface(this.queryFd, rec, fwmark >>> 0);
  }

  private closeFds(): void {
    this.native.sym.bunwg_route_close(this.watchFd);
    this.native.sym.bunwg_route_close(this.queryFd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.stop();
    this.poller = null;
    this.closeFds();
  }
}
