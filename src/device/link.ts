// The interface's link state as the kernel has it — up or down, and the MTU in force — followed by a native thread
// (zig/src/link.zig) in whichever network namespace the interface lives, also after it moved (`rdomain`). The
// device takes its up/down state and its MTU from here (device.ts setUp; send.ts pads to the MTU, §5.4.6).
import type { JSCallback } from "bun:ffi";
import { loadNative, pollCallback, releaseCallback, type Native } from "../native/lib.ts";

const UP = 1, DELETED = 2, KNOWN = 4; // bits of bunwg_link_state
const GONE_EVENT = 2;

export interface LinkState {
  up: boolean;
  /** The interface's MTU, 0 while unknown (it is between namespaces). */
  mtu: number;
  /** The interface was deleted. */
  deleted: boolean;
}

export class LinkWatch {
  #native: Native;
  #handle: number | null;
  #callback: JSCallback | null;
  readonly #mtuOut = new Int32Array(1);

  private constructor(native: Native, handle: number, callback: JSCallback) {
    this.#native = native;
    this.#handle = handle;
    this.#callback = callback;
  }

  /**
   * Follows the interface of TUN fd `tunFd` (`name` is for messages only). Returns once its first state is known;
   * `onChange` then runs on the event loop each time it changes.
   */
  static start(tunFd: number, name: string, onChange: (s: LinkState) => void): LinkWatch {
    const native = loadNative();
    let watch: LinkWatch | null = null;
    const callback = pollCallback((event: number) => {
      if (watch === null || watch.#handle === null) return; // queued just before stop()
      const s = watch.state();
      if (event === GONE_EVENT) s.deleted = true;
      onChange(s);
    });
    const h = native.sym.bunwg_link_start(tunFd, callback.ptr!);
    if (!h) {
      releaseCallback(callback);
      throw new Error(`interface ${name}: cannot start the thread following its link state`);
    }
    watch = new LinkWatch(native, h as unknown as number, callback);
    return watch;
  }

  /** The state now; `known` false while the interface could not be looked at (then up is false, mtu 0). */
  state(): LinkState & { known: boolean } {
    if (this.#handle === null) return { up: false, mtu: 0, deleted: false, known: false };
    return this.#decode(this.#native.sym.bunwg_link_state(this.#handle as never, this.#mtuOut));
  }

  /** The state as the kernel has it at this moment, read on this thread (zig/src/link.zig lookNow): the link thread
   *  may not have run since a change, nor followed a move. The last published state only where the kernel would not
   *  say (no right to enter the interface's namespace). A few system calls, a short-lived thread after a move: for
   *  the data path's rare "a packet, but we are down" case. */
  lookNow(): LinkState & { known: boolean } {
    if (this.#handle === null) return this.state();
    return this.#decode(this.#native.sym.bunwg_link_look_now(this.#handle as never, this.#mtuOut));
  }

  #decode(f: number): LinkState & { known: boolean } {
    return { up: (f & UP) !== 0, mtu: this.#mtuOut[0], deleted: (f & DELETED) !== 0, known: (f & KNOWN) !== 0 };
  }

  /** Look again now: the data path saw a sign that the state changed (a write refused because the link is down). */
  kick(): void {
    if (this.#handle !== null) this.#native.sym.bunwg_link_kick(this.#handle as never);
  }

  /** Stops the thread. Idempotent; call before the TUN fd is closed. */
  stop(): void {
    if (this.#handle === null) return;
    this.#native.sym.bunwg_link_stop(this.#handle as never);
    this.#handle = null;
    if (this.#callback) releaseCallback(this.#callback);
    this.#callback = null;
  }
}
