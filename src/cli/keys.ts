// wg(8)'s key tools, byte-for-byte in format: one base64 key and a newline on stdout.
import { fstatSync } from "node:fs";
import { defineCommand } from "citty";
import { CliError, runReporting } from "./errors.ts";
import { clamp, keyFromBase64, publicKeyOf, randomKey } from "./keyText.ts";
import { keyToBase64 } from "../text/codec.ts";

/** A private key written to a file others can read is a leak waiting to happen: say so, as wg(8) does. */
function warnIfWorldReadable(): void {
  try {
    const st = fstatSync(1);
    if (st.isFile() && (st.mode & 0o007) !== 0) {
      console.error("Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.");
    }
  } catch {
    // stdout without a stat (closed): nothing to warn about.
  }
}

export const genkeyCommand = defineCommand({
  meta: { name: "genkey", description: "Print a new random private key (base64, clamped) like wg genkey" },
  run() {
    warnIfWorldReadable();
    process.stdout.write(`${keyToBase64(clamp(randomKey()))}\n`);
  },
});

export const genpskCommand = defineCommand({
  meta: { name: "genpsk", description: "Print a new random preshared key (base64) like wg genpsk" },
  run() {
    warnIfWorldReadable();
    process.stdout.write(`${keyToBase64(randomKey())}\n`);
  },
});

/** Derives the public key of the private key on `input`; throws a CliError naming the bad key. */
export function pubkeyOfText(input: string): string {
  const text = input.trim();
  if (text === "") throw new CliError("private key: expected 32 bytes of base64 (44 characters ending in \"=\") on stdin, got nothing");
  return keyToBase64(publicKeyOf(keyFromBase64(text, "private key")));
}

export const pubkeyCommand = defineCommand({
  meta: {
    name: "pubkey",
    description: "Read a private key (base64 of any 32 bytes) on stdin, print its public key like wg pubkey",
  },
  async run() {
    await runReporting("pubkey", async () => {
      process.stdout.write(`${pubkeyOfText(await Bun.stdin.text())}\n`);
    });
  },
});
