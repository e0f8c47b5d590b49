// Route changes, for the sticky source addresses (zig/src/route.zig). A peer's endpoint pins the local address
// the peer reached us at (endpoint.ts); after the routing changes, that address may leave through an interface
// it does not belong to, or not be ours any more. On every route, address or link notification the device asks
// the kernel, per pinned endpoint, which interface it would send through now, and forgets the source where that
// is not the one the address was learned on: the kernel then chooses, and the peer's next packet pins again.
// (Comparing interfaces rather than clearing on every notification keeps stickiness on busy routing tables.)
import { loadNative, pollCallback, releaseCallback, type Native } from "../native/lib.ts";

const READABLE = 1;

export class RouteWatch {
  private poller: unknown = null;
  private callback: ReturnType<typeof pollCallback> | null = null;
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
    const callback = pollCallback((event: number) => {
      if (w.closed) return;
      const changes = native.sym.bunwg_route_drain(watchFd);
      if (changes !== 0 || event !== READABLE) onChange(); // lost notifications or an error: re-checking is always safe
      if (w.closed) return;
      // Netlink reports an overrun as a socket error, which parks the poll thread for good: start a fresh one.
      if (event !== READABLE) w.startPoller();
      else if (w.poller !== null) native.sym.bunwg_poller_rearm(w.poller as never);
    });
    w.callback = callback;
    if (!w.startPoller()) {
      releaseCallback(callback);
      w.closeFds();
      throw new Error("route notifications: cannot start the poll thread");
    }
    return w;
  }

  private startPoller(): boolean {
    if (this.poller !== null) this.native.sym.bunwg_poller_stop(this.poller as never);
    this.poller = this.native.sym.bunwg_poller_start(this.watchFd, this.callback!.ptr!) || null;
    return this.poller !== null;
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
    if (this.poller !== null) this.native.sym.bunwg_poller_stop(this.poller as never);
    this.poller = null;
    if (this.callback) releaseCallback(this.callback);
    this.closeFds();
  }
}
