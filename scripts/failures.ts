// What `bun run test` repeats at its very end: each failed test's name with the error lines bun test printed just
// before it. CI keeps only the tail of a run's output, and the second pass (BUNWG_THREADS=2) would otherwise push a
// failure of the first pass out of it.

/** Error lines kept per failure (the last ones before its "(fail)" line: the assertion and where it was made). */
const CONTEXT = 30;
/** Failures written out in full; the rest by name only. */
const DETAILED = 8;

/** Follows one bun test run's stderr line by line and keeps every failure with the lines printed before it. */
export class FailureLog {
  private readonly since: string[] = [];
  private readonly failures: { name: string; context: string[] }[] = [];

  line(text: string): void {
    if (text.startsWith("(fail)")) {
      this.failures.push({ name: text, context: this.since.slice(-CONTEXT) });
      this.since.length = 0;
    } else if (text.startsWith("(pass)") || text.startsWith("(skip)") || text.startsWith("(todo)") || text.endsWith(".test.ts:")) {
      this.since.length = 0; // a test's error lines come after the previous result and before its own
    } else {
      this.since.push(text);
      if (this.since.length > CONTEXT) this.since.shift();
    }
  }

  get count(): number {
    return this.failures.length;
  }

  /** The summary for `title`, or "" when nothing failed. */
  summary(title: string): string {
    if (this.failures.length === 0) return "";
    const out = [`== ${this.failures.length} failed in ${title}:`];
    this.failures.forEach((f, i) => {
      out.push(f.name);
      if (i < DETAILED) out.push(...f.context.filter((l) => l.trim() !== "").map((l) => `    ${l}`));
    });
    return out.join("\n") + "\n";
  }
}

/** Copies a stream to `sink` as it comes and hands each complete line to `onLine`. */
export async function follow(stream: ReadableStream<Uint8Array>, sink: (chunk: Uint8Array) => void, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    sink(chunk);
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  }
  if (partial !== "") onLine(partial);
}
