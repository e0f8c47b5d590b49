// The one error type of configuration: a configuration-socket request (src/uapi/), the device applying it
// (src/device/device.ts) and the server answering it (src/device/ipc.ts) all speak it. The errno values are
// wireguard-go's (what wg(8) prints for each): docs/configuration-protocol.md.

export const EIO = 5;
export const EINVAL = 22; // a key or value that is not valid
export const EPROTO = 71; // a request that is not the protocol (framing, binary junk)
export const EADDRINUSE = 98; // the daemon could not bind the new listen port

/** Error messages end up in the daemon's log, and a bad line may hold a secret (a private or preshared key in the
 *  wrong form, one character too many, pasted into the wrong field): every run of 32 or more base64/hex characters
 *  is replaced by its length. No valid value of any other key is that long without a "." or ":". */
export function hideSecrets(message: string): string {
  return message.replace(/[A-Za-z0-9+/=]{32,}/g, (run) => `<${run.length} characters not shown>`);
}

/** A configuration refused: `errno` for the socket's answer, `message` (secrets hidden) for the log and the CLI. */
export class ConfigError extends Error {
  constructor(readonly errno: number, message: string) {
    super(hideSecrets(message));
    this.name = "ConfigError";
  }
}
