#!/usr/bin/env bun
// `bun run compile`: one standalone executable, dist/bunwg, for any x86-64 Linux (Bun's "baseline" build, no AVX2
// needed), with every Zig library variant inside (the fastest one the CPU supports is picked at run time).
// Copied alone anywhere it runs as `./bunwg IFNAME`, `./bunwg ifconfig …`, `./bunwg genkey`, and as
// WG_QUICK_USERSPACE_IMPLEMENTATION for wg-quick.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { libraryFileNames } from "../src/native/variants.ts";

const root = join(import.meta.dir, "..");
const target = process.env.BUNWG_COMPILE_TARGET ?? "bun-linux-x64-baseline";
const outfile = join(root, "dist", "bunwg");

function fail(message: string): never {
  console.error(`compile: ${message}`);
  process.exit(1);
}

// The libraries must exist to be embedded: build them (a no-op when up to date).
const libDir = join(root, "zig", "zig-out", "lib");
const build = Bun.spawnSync([process.execPath, join(root, "scripts", "build-zig.ts")], { cwd: root, stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) fail("building the Zig library failed (see above); the executable needs it embedded");
for (const name of libraryFileNames()) {
  if (!existsSync(join(libDir, name))) fail(`${join(libDir, name)} is missing after the Zig build`);
}

mkdirSync(join(root, "dist"), { recursive: true });
const cmd = [
  process.execPath,
  "build",
  "--compile",
  `--target=${target}`,
  "--minify-syntax",
  join(root, "src", "cli", "compiledEntry.ts"),
  "--outfile",
  outfile,
];
const started = performance.now();
const r = Bun.spawnSync(cmd, { cwd: root, stdout: "pipe", stderr: "pipe" });
if (r.exitCode !== 0) fail(`bun build failed:\n${r.stdout.toString()}${r.stderr.toString()}`);
const mb = (statSync(outfile).size / 1e6).toFixed(0);
console.log(`compile: wrote ${outfile} (${mb} MB, ${target}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
