#!/usr/bin/env bun
// Builds the Zig library (zig/) into zig/zig-out/lib/: one shared library per CPU level, chosen at load time by
// src/native/lib.ts. Runs as `bun install`'s postinstall; `bun run build:zig` (= --force) rebuilds unconditionally.
// Skips the build when the sources, the Zig version and the outputs are unchanged.
// `--test` runs the Zig unit tests instead. `--arch=arm64` cross-builds the library for 64-bit ARM Linux instead (libbunwg-aarch64.so, for
// `bun run compile --target linux-arm64`); `bun install` builds only this machine's architecture.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, run } from "./run.ts";
import { libraryFileNames, zigArch } from "../src/native/variants.ts";

const ZIG_VERSION = "0.14.1"; // pinned: std and build.zig APIs change between releases (docs/platform.md)
const root = REPO_ROOT;
const zigDir = join(root, "zig");
const outDir = join(zigDir, "zig-out", "lib");
const force = process.argv.includes("--force");
const CROSS_ARCHES = ["x64", "arm64"]; // what compile.ts targets; others build only natively
const archArg = process.argv.find((a) => a.startsWith("--arch="))?.slice("--arch=".length);
if (archArg !== undefined && archArg !== process.arch && !CROSS_ARCHES.includes(archArg)) {
  console.error(`build-zig: --arch=${archArg}: expected one of ${CROSS_ARCHES.join(", ")} (Node's names) or this machine's ${process.arch}`);
  process.exit(2);
}
const arch = archArg ?? process.arch;
// The native build keeps the stamp name it always had; each cross build has its own.
const stampFile = join(zigDir, "zig-out", arch === process.arch ? ".bunwg-build-stamp" : `.bunwg-build-stamp-${zigArch(arch)}`);

function fail(message: string): never {
  console.error(`build-zig: ${message}`);
  process.exit(1);
}

// A `zig` on PATH of the pinned version, else `python3 -m ziglang` (pip package ziglang==0.14.1), installed when missing.
function findZig(): string[] {
  const onPath = Bun.which("zig");
  if (onPath) {
    const v = run([onPath, "version"]);
    if (v.ok && v.out === ZIG_VERSION) return [onPath];
    console.error(`build-zig: ignoring ${onPath}: version "${v.out}", expected ${ZIG_VERSION}`);
  }
  const py = Bun.which("python3");
  if (!py) fail(`no zig ${ZIG_VERSION} on PATH and no python3 to run the ziglang package; install Zig ${ZIG_VERSION}`);
  const zig = [py, "-m", "ziglang"];
  let v = run([...zig, "version"]);
  if (!(v.ok && v.out === ZIG_VERSION)) {
    console.error(`build-zig: installing ziglang==${ZIG_VERSION} with pip (found: ${v.ok ? v.out : "none"})`);
    const pip = run([py, "-m", "pip", "install", "--quiet", `ziglang==${ZIG_VERSION}`]);
    if (!pip.ok) {
      fail(
        `could not install Zig: "python3 -m pip install ziglang==${ZIG_VERSION}" failed:\n${pip.out}\n` +
          `Install Zig ${ZIG_VERSION} on PATH (https://ziglang.org/download/) or the ziglang pip package, then run: bun run build:zig`,
      );
    }
    v = run([...zig, "version"]);
    if (!(v.ok && v.out === ZIG_VERSION)) fail(`python3 -m ziglang reports version "${v.out}", expected ${ZIG_VERSION}`);
  }
  return zig;
}

// Everything that determines the output: sources, build script, Zig version, architecture.
function sourceStamp(): string {
  const h = createHash("sha256");
  h.update(`${ZIG_VERSION}\n${arch}\n`);
  const files = ["build.zig", ...readdirSync(join(zigDir, "src")).filter((f) => f.endsWith(".zig")).sort().map((f) => `src/${f}`)];
  for (const f of files) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(zigDir, f)));
  }
  return h.digest("hex");
}

// `--test`: the Zig `test` blocks (zig build test) with the same pinned Zig, as .ci/run runs them.
if (process.argv.includes("--test")) {
  const r = run([...findZig(), "build", "test", "--summary", "all"], zigDir);
  console.log(r.out);
  if (!r.ok) fail("zig build test failed");
  process.exit(0);
}

const expected = libraryFileNames(arch).map((f) => join(outDir, f));
const stamp = sourceStamp();
const upToDate =
  !force && expected.every((f) => existsSync(f)) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp;
if (upToDate) {
  console.log(`build-zig: up to date (${expected.length} ${zigArch(arch)} variant${expected.length === 1 ? "" : "s"} in zig/zig-out/lib)`);
  process.exit(0);
}

const zig = findZig();
const t0 = performance.now();
const r = run([...zig, "build", "-Doptimize=ReleaseFast", ...(arch === process.arch ? [] : [`-Darch=${zigArch(arch)}`])], zigDir);
if (!r.ok) fail(`zig build failed:\n${r.out}`);
const missing = expected.filter((f) => !existsSync(f));
if (missing.length > 0) fail(`zig build succeeded but did not produce ${missing.join(", ")}`);
writeFileSync(stampFile, stamp);
console.log(`build-zig: built ${libraryFileNames(arch).join(", ")} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
