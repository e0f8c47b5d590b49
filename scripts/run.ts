// The build scripts' one way to run a tool: argv, the repository as the default directory, and what it printed
// (stdout then stderr) for the error message when it failed.
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dir, "..");

export function run(cmd: string[], cwd = REPO_ROOT): { ok: boolean; out: string } {
  try {
    const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
    return { ok: r.exitCode === 0, out: (r.stdout.toString() + r.stderr.toString()).trim() };
  } catch (e) {
    return { ok: false, out: String(e) };
  }
}
