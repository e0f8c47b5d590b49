// A native poll thread on one descriptor (zig/src/poller.zig): it sleeps in poll() and calls back on the event loop
// when the descriptor is readable or failed, once per rearm() (docs/platform.md: ~0 % CPU idle, no busy loop). The
// UDP socket and the route watcher each hold one; stop() ends the thread and frees its callback.
import type { JSCallback } from "bun:ffi";
import { pollCallback, releaseCallback, type Native } from "./lib.ts";

/** The event a poll thread reports when its descriptor is readable (anything else: an error on it). */
export const READABLE = 1;

export class PollThread {
  private handle: unknown = null;
  private readonly callback: JSCallback;

  /** Starts a thread on fd; onEvent(event) runs on the event loop. Throws naming `what` when it cannot start. */
  constructor(private readonly native: Native, private readonly fd: number, what: string, onEvent: (event: number) => void) {
    this.callback = pollCallback(onEvent);
    if (!this.restart()) {
      releaseCallback(this.callback);
      throw new Error(`${what}: cannot start the poll thread`);
    }
  }

  /** Lets the thread fire again (level-triggered: at once if the descriptor is still readable). */
  rearm(): void {
    if (this.handle !== null) this.native.sym.bunwg_poller_rearm(this.handle as never);
  }

  /** Replaces the thread with a fresh one (an error on the descriptor parks a thread for good); false if it failed. */
  restart(): boolean {
    if (this.handle !== null) this.native.sym.bunwg_poller_stop(this.handle as never);
    this.handle = this.native.sym.bunwg_poller_start(this.fd, this.callback.ptr!) || null;
    return this.handle !== null;
  }

  stop(): void {
    if (this.handle !== null) this.native.sym.bunwg_poller_stop(this.handle as never);
    this.handle = null;
    releaseCallback(this.callback);
  }
}
