// The one way tests run a program: argv (never a shell unless asked for with `shell`), a bound on its time, the
// environment and standard input given, and `check` (default) turning a non-zero exit into an error that names the
// command and what it printed. And the one way tests wait: `poll` for a condition, bounded.

export interface Result { code: number; stdout: string; stderr: string }

export interface RunOptions {
  /** Throw unless the program exits 0 (default true). */
  check?: boolean;
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  stdin?: string | Uint8Array;
  cwd?: string;
}

function spawnOptions(opts: RunOptions) {
  return {
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? ("ignore" as const) : typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    stdout: "pipe" as const,
    stderr: "pipe" as const,
    env: { ...process.env, ...opts.env },
  };
}

function checked(cmd: string[], r: Result, opts: RunOptions): Result {
  if (opts.check !== false && r.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r;
}

export async function run(cmd: string[], opts: RunOptions = {}): Promise<Result> {
  const p = Bun.spawn(cmd, spawnOptions(opts));
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return checked(cmd, { code, stdout, stderr }, opts);
}

export function runSync(cmd: string[], opts: RunOptions = {}): Result {
  const r = Bun.spawnSync(cmd, { ...spawnOptions(opts), timeout: opts.timeoutMs ?? 30_000 });
  return checked(cmd, { code: r.exitCode ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() }, opts);
}

/** A shell command line, for the few checks that want a pipe; not checked unless asked. */
export function shell(script: string, opts: RunOptions = {}): Result {
  return runSync(["sh", "-c", script], { check: false, timeoutMs: 20_000, ...opts });
}

export function hasCommand(name: string): boolean {
  return Bun.which(name) !== null;
}

/** True as soon as cond holds, false when timeoutMs passed without it (checked every 50 ms, and once at the end). */
export async function poll(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await Bun.sleep(50);
  }
  return await cond();
}

/** Like poll, but an error naming `what` when the time runs out. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  if (!(await poll(cond, timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
