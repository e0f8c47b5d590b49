// One error type for everything a user did wrong or the system refused: its message is printed as is, without a
// stack trace, and the command exits non-zero.
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Runs a command body; a CliError becomes "PROGRAM: message" on stderr and exit code 1 (anything else: a trace). */
export async function runReporting(program: string, body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof CliError) {
      console.error(`${program}: ${e.message}`);
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new CliError(`${what}: permission denied: must be root (creating and configuring interfaces needs CAP_NET_ADMIN)`);
  }
}
