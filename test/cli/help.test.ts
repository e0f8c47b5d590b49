// The first screen a newcomer sees: `bun run wg.ts --help` reads like wg(8)'s usage — the daemon invocation first,
// one line per command (netstart among them), no ifconfig word list, every line within the width, colour only on a
// terminal and never with NO_COLOR.
import { describe, expect, test } from "bun:test";
import { fitWidth, styleFor } from "../../src/cli/usage.ts";
import { hasCommand } from "../support/process.ts";
import { WG_TS, bunwg } from "../support/programs.ts";

const COMMANDS = ["ifconfig", "netstart", "show", "genkey", "pubkey", "genpsk", "demo"];
const ANSI = /\x1b\[/;

/** Runs `bun wg.ts ARGS` on a pseudo-terminal of `cols` columns (script(1)), returning what the terminal got. */
function onTerminal(args: string, cols: number, env: Record<string, string | undefined> = {}): string {
  const cmd = `stty cols ${cols}; ${JSON.stringify(process.execPath)} ${JSON.stringify(WG_TS)} ${args}`;
  const r = Bun.spawnSync(["script", "-qec", cmd, "/dev/null"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // As a person's terminal: citty (a command's own help) gives no colour where it sees a CI environment.
    env: { ...process.env, CI: undefined, GITHUB_ACTIONS: undefined, NO_COLOR: "", TERM: "xterm", ...env },
    timeout: 20_000,
  });
  return r.stdout.toString().replace(/\r/g, "");
}

describe("bunwg --help", () => {
  test("the daemon invocation first, then one line per command, and no ifconfig word list", async () => {
    const r = await bunwg(["--help"], { env: { COLUMNS: "" } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout.split("\n");
    // The daemon's flags, then IFNAME (more flags may join -f; each in brackets).
    expect(lines[0]).toMatch(/^Usage: bunwg \[-f\|--foreground\]( \[[^\]]+\])* IFNAME$/);
    expect(lines[1]).toBe("       bunwg COMMAND [ARGUMENTS…]");
    const commandLines = lines.filter((l) => /^ {2}[a-z]+ {2}/.test(l));
    expect(commandLines.map((l) => l.trim().split(/\s+/)[0])).toEqual(COMMANDS);
    // One line each: the next line is another command or the end of the list.
    for (const c of COMMANDS) expect(lines[lines.findIndex((l) => l.startsWith(`  ${c}  `)) + 1]).toMatch(/^( {2}[a-z]+ {2}|$)/);
    expect(r.stdout).toContain("netstart  [-n] [IFNAME…]");
    for (const word of ["wgendpoint", "wgpeer", "wgaip", "-wgpeerall"]) expect(r.stdout).not.toContain(word);
    expect(r.stdout).not.toMatch(/ {6,}\S* *$/m); // no padding run to the right
    expect(r.stdout).not.toMatch(ANSI); // a pipe is no terminal
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect((await bunwg(["-h"])).stdout).toBe(r.stdout);
  });

  test("lines fit $COLUMNS when not on a terminal", async () => {
    const r = await bunwg(["--help"], { env: { COLUMNS: "56" } });
    expect(r.code).toBe(0);
    for (const l of r.stdout.split("\n")) expect(l.length).toBeLessThanOrEqual(56);
    expect(r.stdout).toContain("netstart");
  });

  test("no words: the usage on stderr, exit 2; an unknown option is named", async () => {
    const none = await bunwg([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toStartWith("Usage: bunwg [-f|--foreground]");
    expect(none.stderr).toContain("\n  netstart  ");
    const bad = await bunwg(["--bogus"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toStartWith(`bunwg: unknown option "--bogus"\nUsage: bunwg`);
  });

  test("the word list is under ifconfig --help; netstart --help names its options", async () => {
    const i = await bunwg(["ifconfig", "--help"], { env: { COLUMNS: "" } });
    expect(i.code).toBe(0);
    for (const word of ["wgpeer PUB", "wgendpoint ADDR PORT", "netmask MASK", "description TEXT", "rdomain NS"]) expect(i.stdout).toContain(word);
    expect(i.stdout).not.toMatch(ANSI);
    for (const l of i.stdout.split("\n")) expect(l.length).toBeLessThanOrEqual(80);
    const n = await bunwg(["netstart", "--help"]);
    expect(n.code).toBe(0);
    for (const word of ["--dir", "--dry-run", "BUNWG_CONFDIR", "hostname.IFNAME"]) expect(n.stdout).toContain(word);
  });

  test.skipIf(!hasCommand("script"))("on a terminal: colour, its width; NO_COLOR and TERM=dumb take the colour away", () => {
    const tty = onTerminal("--help", 64);
    expect(tty).toMatch(ANSI);
    expect(tty).toContain("netstart");
    // eslint-disable-next-line no-control-regex
    for (const l of tty.replace(/\x1b\[[0-9;]*m/g, "").split("\n")) expect(l.length).toBeLessThanOrEqual(64);
    expect(onTerminal("--help", 64, { NO_COLOR: "1" })).not.toMatch(ANSI);
    expect(onTerminal("--help", 64, { TERM: "dumb" })).not.toMatch(ANSI);
    expect(onTerminal("ifconfig --help", 64, { NO_COLOR: "1" })).not.toMatch(ANSI);
    expect(onTerminal("ifconfig --help", 64)).toMatch(ANSI);
  });

  test("styleFor and fitWidth", () => {
    expect(styleFor({ isTTY: true, columns: 100 }, {})).toEqual({ color: true, width: 100 });
    expect(styleFor({ isTTY: true, columns: 100 }, { NO_COLOR: "1" })).toEqual({ color: false, width: 100 });
    expect(styleFor({ isTTY: true, columns: 100 }, { NO_COLOR: "" }).color).toBe(true); // set but empty: no-color.org
    expect(styleFor({ isTTY: false }, { COLUMNS: "60" })).toEqual({ color: false, width: 60 });
    expect(styleFor({ isTTY: false }, {})).toEqual({ color: false, width: 80 });
    expect(fitWidth("  name  a description that is far too long for the width", 30)).toBe(
      "  name  a description that is\n        far too long for the\n        width",
    );
    expect(fitWidth("prose that wraps at blanks only", 12)).toBe("prose that\nwraps at\nblanks only");
  });
});
