// hostname.if(5) files for wg(4) interfaces: each line is either ifconfig words for the interface or a "!command" for
// the shell. This file only splits lines into words and unpacks OpenBSD's packed address formats
// ("inet ADDR NETMASK [BROADCAST]", "inet6 ADDR PREFIXLEN") into the words `ifconfig` itself takes; what the words
// mean is decided by the one ifconfig word parser (words.ts), so a file and a command line can never disagree.
import { CliError } from "./errors.ts";
import { parseWords, type Plan } from "./words.ts";

export type HostnameLine =
  | { line: number; kind: "words"; words: string[]; plan: Plan }
  | { line: number; kind: "command"; command: string };

/** Interface names netstart picks up by itself from a directory: hostname.wg…, no dots (backups: hostname.wg0.bak,
 *  hostname.wg0~), at most 15 characters as Linux allows. */
export const HOSTNAME_FILE = /^hostname\.(wg[A-Za-z0-9_-]{0,13})$/;

/** Words of one line: blanks separate them, double quotes keep blanks and single quotes inside one word
 *  (hostname.if(5): `description "Bob's uplink"`), an unquoted word starting with "#" comments out the rest. */
export function splitWords(text: string, where: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length || text[i] === "#") break;
    let word = "";
    while (i < text.length && !/\s/.test(text[i])) {
      if (text[i] === '"') {
        const end = text.indexOf('"', i + 1);
        if (end < 0) throw new CliError(`${where}: unterminated double quote in ${JSON.stringify(text.trim())}`);
        word += text.slice(i + 1, end);
        i = end + 1;
      } else word += text[i++];
    }
    words.push(word);
  }
  return words;
}

const NETMASKISH = /^(?:\d+\.\d+\.\d+\.\d+|0x[0-9a-fA-F]+|\d+\.[\d.]*)$/;

/** OpenBSD netstart's unpacking of the packed address lines into ifconfig words; other lines are ifconfig words as
 *  they stand. "inet [alias] ADDR MASK [BCAST|NONE] …" and "inet6 [alias] ADDR LEN …". */
export function unpackLine(words: string[]): string[] {
  const family = words[0];
  if (family !== "inet" && family !== "inet6") return words;
  const out = [...words];
  const at = out[1] === "alias" ? 2 : 1; // the address
  if (family === "inet") {
    if (out[at + 1] !== undefined && NETMASKISH.test(out[at + 1])) {
      out.splice(at + 1, 0, "netmask");
      const bcast = out[at + 3];
      if (bcast === "NONE") out.splice(at + 3, 1);
      else if (bcast !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(bcast)) out.splice(at + 3, 0, "broadcast");
    }
  } else if (out[at + 1] !== undefined && /^\d+$/.test(out[at + 1])) {
    out.splice(at + 1, 0, "prefixlen");
  }
  return out;
}

/** Words that make sense on a command line but not in a file that describes an interface. */
function checkFileWords(words: string[], where: string): void {
  for (const w of words) {
    if (w === "destroy") throw new CliError(`${where}: destroy: not allowed in a hostname.if file (it describes an interface to bring up)`);
    if (w === "--json" || w === "-j") throw new CliError(`${where}: ${w}: not an interface word (it only formats ifconfig's output)`);
  }
}

/**
 * Parses a whole file. Every word line goes through the ifconfig word parser now, so a file with a mistake anywhere
 * is refused before anything is brought up; the error names the file, the line and the word.
 */
export function parseHostnameFile(text: string, path: string): HostnameLine[] {
  const out: HostnameLine[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    const where = `${path}:${line}`;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    if (trimmed.startsWith("!")) {
      const command = trimmed.slice(1).trim();
      if (command === "") throw new CliError(`${where}: "!" without a command`);
      out.push({ line, kind: "command", command });
      return;
    }
    const words = unpackLine(splitWords(raw, where));
    if (words.length === 0) return;
    checkFileWords(words, where);
    let plan: Plan;
    try {
      plan = parseWords(words.filter((w) => w !== "create"));
    } catch (e) {
      if (e instanceof CliError) throw new CliError(`${where}: ${e.message}`);
      throw e;
    }
    out.push({ line, kind: "words", words, plan });
  });
  return out;
}

/** A word as a shell would need it typed (for --dry-run's output). */
export function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}
