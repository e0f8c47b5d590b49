// The help screens: `bunwg --help` reads like wg(8)'s usage (the daemon invocation first, then one line per command),
// every line fits the terminal, and colour is used only on a terminal and never when NO_COLOR is set (no-color.org).

export interface Style {
  color: boolean;
  width: number;
}

/** How to write to `stream`: colour only on a terminal without NO_COLOR or TERM=dumb; its width, else $COLUMNS, else 80. */
export function styleFor(stream: { isTTY?: boolean; columns?: number }, env: Record<string, string | undefined> = process.env): Style {
  const color = Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== "dumb";
  const columns = stream.isTTY && stream.columns ? stream.columns : Number(env.COLUMNS);
  return { color, width: Number.isInteger(columns) && columns >= 40 ? columns : 80 };
}

const ANSI = /\x1b\[[0-9;]*m/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

function visibleLength(text: string): number {
  return stripAnsi(text).length;
}

/**
 * Wraps every line longer than `width` at blanks. A continuation lines up under the text after the line's last run
 * of two or more blanks that leaves 20 columns (a description column), else 2 columns in from the line's own (prose: none).
 */
export function fitWidth(text: string, width: number): string {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (visibleLength(line) <= width) {
      out.push(line);
      continue;
    }
    const plain = stripAnsi(line);
    const indent = plain.match(/^ */)![0].length;
    const gaps = [...plain.slice(indent).matchAll(/ {2,}(?=\S)/g)].filter((m) => indent + m.index! + m[0].length <= width - 20);
    const last = gaps.at(-1);
    let hang = last ? indent + last.index! + last[0].length : indent === 0 ? 0 : indent + 2;
        let rest = plain;
    let first = true;
    while (rest.length > 0) {
      const room = first ? width : width - hang;
      const body = first ? rest : rest.trimStart();
      if (body.length <= room) {
        out.push(first ? body : " ".repeat(hang) + body);
        break;
      }
      let cut = body.lastIndexOf(" ", room);
      if (cut <= (first ? hang : 0)) cut = room; // one word longer than the room: break it
      out.push((first ? "" : " ".repeat(hang)) + body.slice(0, cut).trimEnd());
      rest = body.slice(cut);
      first = false;
    }
  }
  return out.join("\n");
}

export interface DaemonFlag {
  flags: string[]; // e.g. ["-f", "--foreground"]
  value?: string; // placeholder of the flag's value, e.g. "ADDR:PORT"; none for a switch
  help: string;
}

export interface CommandSummary {
  name: string;
  args: string;
  summary: string;
}

function paint(style: Style, code: string, text: string): string {
  return style.color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** `bunwg --help`. */
export function mainUsage(style: Style, daemonFlags: DaemonFlag[], commands: CommandSummary[]): string {
  const b = (t: string) => paint(style, "1", t);
  const c = (t: string) => paint(style, "36", t);
  const flagWords = daemonFlags.map((f) => `[${f.flags.join("|")}${f.value ? ` ${f.value}` : ""}]`).join(" ");
  const nameWidth = Math.max(...commands.map((x) => x.name.length));
  const argsWidth = Math.max(...commands.map((x) => x.args.length));
  const flagCol = (f: DaemonFlag) => `${f.flags.join(", ")}${f.value ? ` ${f.value}` : ""}`;
  const options = [
    ...daemonFlags.map((f) => [flagCol(f), f.help] as const),
    ["-v, --version", "print the version and the AEAD backend in use"] as const,
    ["-h, --help", "show this help; COMMAND --help shows a command's"] as const,
  ];
  const optWidth = Math.max(...options.map(([k]) => k.length));
  const lines = [
    `${b("Usage:")} ${c("bunwg")} ${flagWords} IFNAME`,
    `       ${c("bunwg")} COMMAND [ARGUMENTS…]`,
    "",
    "With IFNAME it runs the WireGuard daemon for that interface, as wireguard-go does: it creates the TUN interface " +
      "and the configuration socket /var/run/wireguard/IFNAME.sock, then detaches. Configure it with wg(8) or ifconfig.",
    "",
    b("Commands:"),
    ...commands.map((x) => `  ${c(x.name.padEnd(nameWidth))}  ${x.args.padEnd(argsWidth)}  ${x.summary}`),
    "",
    b("Options:"),
    ...options.map(([k, v]) => `  ${k.padEnd(optWidth)}  ${v}`),
    "",
    "Environment: LOG_LEVEL=silent|error|verbose|debug, BUNWG_METRICS=ADDR:PORT (as --metrics), BUNWG_THREADS=N (as --threads), BUNWG_CONFDIR (netstart's directory), NO_COLOR.",
  ];
  return `${fitWidth(lines.join("\n"), style.width)}\n`;
}

/** A command's own help (citty's rendering), with colour only where `style` allows it and lines fitted. */
export function commandUsage(style: Style, rendered: string): string {
  const text = style.color ? rendered : stripAnsi(rendered);
  return `${fitWidth(text.trimEnd(), style.width)}\n`;
}
