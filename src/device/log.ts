// Logging with wireguard-go's levels (LOG_LEVEL=silent|error|verbose|debug). The seed's DIAGNOSTICS messages are
// printed at debug level, which `ifconfig wgN debug` (bunwg_debug=true) also switches on at runtime.
// Keys never pass through here: callers name peers by their public key only.

/** Where a detached daemon logs (README); nothing secret is ever written there. */
export const LOG_DIR = "/var/log/bunwg";
export function logPath(ifname: string): string {
  return `${LOG_DIR}/${ifname}.log`;
}

export type LogLevel = "silent" | "error" | "verbose" | "debug";

export function parseLogLevel(text: string | undefined): LogLevel {
  switch ((text ?? "").toLowerCase()) {
    case "": return "error";
    case "silent": return "silent";
    case "error": return "error";
    case "verbose": case "info": return "verbose";
    case "debug": return "debug";
    default:
      throw new Error(`LOG_LEVEL: expected silent, error, verbose or debug, got "${text}"`);
  }
}

function stamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export class Logger {
  /** Set at start from LOG_LEVEL; `debug` can be switched on and off at runtime. */
  constructor(readonly ifname: string, public level: LogLevel, private readonly write: (line: string) => void = (l) => process.stderr.write(l)) {}

  get debugEnabled(): boolean { return this.level === "debug"; }

  setDebug(on: boolean, baseLevel: LogLevel): void {
    this.level = on ? "debug" : (baseLevel === "debug" ? "verbose" : baseLevel);
  }

  error(msg: string): void {
    if (this.level !== "silent") this.write(`ERROR: (${this.ifname}) ${stamp()} ${msg}\n`);
  }
  info(msg: string): void {
    if (this.level === "verbose" || this.level === "debug") this.write(`INFO: (${this.ifname}) ${stamp()} ${msg}\n`);
  }
  debug(msg: string): void {
    if (this.level === "debug") this.write(`DEBUG: (${this.ifname}) ${stamp()} ${msg}\n`);
  }
}
