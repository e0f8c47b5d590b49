// Traffic a test sends through a tunnel and checks end to end: a TCP transfer whose every byte is verified
// (test/robust/tcp-transfer.ts on both sides, each in its namespace).
import { join } from "node:path";
import { run } from "./process.ts";
import type { Scope } from "./scope.ts";

const TCP_TRANSFER = join(import.meta.dir, "..", "robust", "tcp-transfer.ts");

/** A TCP transfer of `bytes` random bytes from namespace fromNs to addr in toNs, with `during` run while it is under
 *  way (its argument says whether the transfer has ended). Resolves with the sender's report; `reply` equals
 *  `${sent} ${hash}` only if every byte arrived intact. */
export async function tcpTransfer(scope: Scope, fromNs: string, toNs: string, addr: string, bytes: number,
  during: (ended: () => boolean) => Promise<void> = async () => {}, timeoutMs = 60_000): Promise<{ sent: number; hash: string; reply: string }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = Bun.spawn(["ip", "netns", "exec", toNs, process.execPath, TCP_TRANSFER, "serve", addr, String(port)], { stdout: "pipe", stderr: "inherit" });
  scope.add(() => server.kill("SIGKILL"));
  try {
    const ready = await Promise.race([new Response(server.stdout as ReadableStream).body!.getReader().read(), Bun.sleep(10_000).then(() => null)]);
    if (ready === null) throw new Error(`tcp-transfer server in ${toNs} not ready within 10 s`);
    let ended = false;
    const send = run(["ip", "netns", "exec", fromNs, process.execPath, TCP_TRANSFER, "send", addr, String(port), String(bytes)], { timeoutMs })
      .finally(() => { ended = true; });
    const [r] = await Promise.all([send, during(() => ended)]);
    return JSON.parse(r.stdout);
  } finally {
    server.kill("SIGKILL");
  }
}
