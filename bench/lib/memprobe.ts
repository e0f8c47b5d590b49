// One stage of bunwg's start-up in a process of its own, so bench/memory.ts can split the idle daemon's resident memory
// into what each stage adds: `floor` (a Bun process that only waits), `modules` (+ the daemon's modules loaded),
// `native` (+ the Zig library and the crypto chosen from it, as the daemon does before its TUN), `buffers` (+ a Device
// and its preallocated packet buffers), `warmup` (+ the data path's warm-up, src/device/warmup.ts, which the daemon
// runs at its start). With a second argument `trim`, it then does what an idle daemon does after 5 s of quiet
// (src/device/trim.ts), so the stages add up to the daemon's steady idle figure. Prints one JSON line when ready, then
// waits.
export {};

const stage = process.argv[2] ?? "";
const trim = process.argv[3] === "trim";
const STAGES = ["floor", "modules", "native", "buffers", "warmup"];
if (!STAGES.includes(stage)) {
  console.error(`memprobe: expected a stage (${STAGES.join(", ")}), got "${stage}"`);
  process.exit(2);
}
const at = STAGES.indexOf(stage);
let bufferBytes = 0;
if (at >= 1) {
  // What a foreground daemon loads (src/device/daemon.ts runForeground) before it creates anything.
  for (const m of ["../../src/device/daemon.ts", "../../src/crypto/aead.ts", "../../src/crypto/suite.ts", "../../src/native/lib.ts",
    "../../src/device/device.ts", "../../src/device/tun.ts", "../../src/device/ipc.ts", "../../src/device/trim.ts"]) await import(m);
}
if (at >= 2) {
  const { loadAead } = await import("../../src/crypto/aead.ts");
  const { defaultSuite } = await import("../../src/crypto/suite.ts");
  (globalThis as { suite?: unknown }).suite = defaultSuite({ aead: loadAead() }); // what a Device's engine receives
}
if (at >= 3) {
  const { Device } = await import("../../src/device/device.ts");
  const { Logger } = await import("../../src/device/log.ts");
  const { loadAead } = await import("../../src/crypto/aead.ts");
  const { MemoryTun } = await import("../../test/support/tuntest.ts");
  const dev = new Device(new MemoryTun("probe0"), loadAead(), new Logger("probe0", "silent"), "silent", (o) => { crypto.getRandomValues(o); });
  // Allocated, not touched: an idle daemon's buffers cost resident memory only once packets have passed through them.
  bufferBytes = dev.sender.bufferBytes + ((dev.receiver as unknown as { buf?: Uint8Array }).buf?.byteLength ?? 0);
  (globalThis as { keep?: unknown }).keep = dev;
}
if (at >= 4) {
  const { warmUp } = await import("../../src/device/warmup.ts");
  const { DEFAULT_DATA_PATH } = await import("../../src/device/device.ts");
  const { loadAead } = await import("../../src/crypto/aead.ts");
  await warmUp(loadAead(), DEFAULT_DATA_PATH, 1420); // as src/device/daemon.ts, at the TUN's MTU at start
}
if (trim) {
  const { trimCode } = await import("../../src/device/trim.ts");
  Bun.gc(true);
  (Bun as unknown as { shrink?: () => void }).shrink?.();
  await Bun.sleep(1000);
  trimCode();
}
console.log(JSON.stringify({ stage, bufferBytes }));
setInterval(() => {}, 1 << 30);
