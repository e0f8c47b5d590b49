// `wg.ts ifconfig IFNAME [WORDS…]`: OpenBSD ifconfig(8) for wg(4) interfaces, on Linux.
// The words are read from the raw argument list: "-wgpeer" and friends are words, not options.
import { defineCommand } from "citty";
import { runReporting } from "./errors.ts";
import { forEachInterface, LIST_TIMEOUT_MS } from "./configSocket.ts";
import { applyPlan } from "./apply.ts";
import { formatStatus, gatherStatus, statusJson } from "./status.ts";
import { checkIfname, isStatusOnly, parseWords, WORDS_HELP } from "./words.ts";

/** Runs ifconfig on argument words (what follows "ifconfig"); status goes to `print`. */
export async function ifconfig(argv: string[], print: (text: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const json = argv.includes("--json") || argv.includes("-j");
  const rest = argv.filter((w) => w !== "--json" && w !== "-j");
  if (rest.length === 0 || (rest.length === 1 && rest[0] === "-a")) {
    // Like `ifconfig -a`: every interface a daemon serves.
    const all = [];
    for (const r of await forEachInterface((name) => gatherStatus(name, LIST_TIMEOUT_MS))) {
      if ("value" in r) all.push(r.value);
      else {
        process.exitCode = 1;
        console.error(`ifconfig: ${r.error.message}`);
      }
    }
    print(json ? `${JSON.stringify(all.map(statusJson))}\n` : all.map((s) => formatStatus(s)).join(""));
    return;
  }
  const [ifname, ...words] = argv;
  checkIfname(ifname!);
  const plan = parseWords(words);
  if (isStatusOnly(plan)) {
    const s = await gatherStatus(ifname!);
    print(plan.json ? `${JSON.stringify(statusJson(s))}\n` : formatStatus(s));
    return;
  }
  await applyPlan(ifname!, plan);
}

export const ifconfigCommand = defineCommand({
  meta: {
    name: "ifconfig",
    description: `Configure or show a WireGuard interface with OpenBSD ifconfig's words\n\n${WORDS_HELP}\n\nexample: ifconfig wg1 create wgport 111 wgkey \`openssl rand -base64 32\` rdomain 1`,
  },
  args: {
    ifname: { type: "positional", required: false, description: "interface name (none: show every interface)" },
    words: { type: "positional", required: false, description: "words, see above" },
    json: { type: "boolean", description: "show the interface as JSON" },
  },
  async run({ rawArgs }) {
    await runReporting("ifconfig", () => ifconfig(rawArgs));
  },
});
