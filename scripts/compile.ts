#!/usr/bin/env bun
// `bun run compile [--target linux-x64|linux-arm64] [--outfile PATH]`: one standalone executable with the Zig
// library inside, built from any x86-64 (or arm64) Linux machine:
//   linux-x64 (default)  dist/bunwg        any x86-64 (Bun's "baseline" build, no AVX2 needed), with every x86-64
//                                          library variant (the fastest one the CPU supports is picked at run time)
//   linux-arm64          dist/bunwg-arm64  64-bit ARM Linux with glibc (routers, Raspberry Pi 3/4/5, Graviton),
//                                          with the library cross-built by the pinned Zig for aarch64
// Copied alone anywhere it runs as `./bunwg IFNAME`, `./bunwg ifconfig …`, `./bunwg genkey`, and as
// WG_QUICK_USERSPACE_IMPLEMENTATION for wg-quick.
//
// The executable is the target's Bun runtime with our bundle appended. That runtime is Bun's npm package for the
// target (@oven/bun-linux-…, the version running this script), fetched with `npm pack` — which verifies it against
// the registry's checksum and honours the user's npm registry settings — into node_modules/.cache/bunwg-runtimes/
// once, and handed to `bun build --compile-executable-path`, so compiling needs only the package registry.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT, run } from "./run.ts";
import { libraryFileNames } from "../src/native/variants.ts";

interface Target {
  readonly bunTarget: string; // bun build --target
  readonly arch: string; // Node's name: scripts/build-zig.ts --arch, src/native/variants.ts
  readonly runtimePackage: string; // npm package holding that Bun runtime as package/bin/bun
  readonly elfMachine: number; // e_machine of that runtime, checked before use
  readonly outfile: string; // default, under dist/
}

const TARGETS: Record<string, Target> = {
  "linux-x64": { bunTarget: "bun-linux-x64-baseline", arch: "x64", runtimePackage: "@oven/bun-linux-x64-baseline", elfMachine: 62, outfile: "bunwg" },
  "linux-arm64": { bunTarget: "bun-linux-arm64", arch: "arm64", runtimePackage: "@oven/bun-linux-aarch64", elfMachine: 183, outfile: "bunwg-arm64" },
};

const root = REPO_ROOT;

function fail(message: string): never {
  console.error(`compile: ${message}`);
  process.exit(1);
}

function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}`) {
      if (argv[i + 1] === undefined) fail(`--${name} needs a value`);
      return argv[i + 1];
    }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

for (const a of process.argv.slice(2)) {
  if (a.startsWith("-") && !/^--(target|outfile)(=|$)/.test(a)) fail(`unknown option "${a}"; usage: bun run compile [--target ${Object.keys(TARGETS).join("|")}] [--outfile PATH]`);
}
const targetName = option("target") ?? "linux-x64";
const target = TARGETS[targetName] ?? fail(`--target ${targetName}: expected one of ${Object.keys(TARGETS).join(", ")}`);
const outfileArg = option("outfile");
const outfile = outfileArg ? resolve(outfileArg) : join(root, "dist", target.outfile);

/** The ELF e_machine field of a file, or undefined when it is not a 64-bit little-endian ELF file. */
function elfMachine(path: string): number | undefined {
  const head = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, head, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
  return head.readUInt16LE(18);
}

/** Path of the target's Bun runtime, fetched once from the package registry with npm. */
function runtimeFor(t: Target): string {
  const version = Bun.version;
  const cacheDir = join(root, "node_modules", ".cache", "bunwg-runtimes", `${t.runtimePackage.replace("/", "+")}@${version}`);
  const bin = join(cacheDir, "bun");
  if (!existsSync(bin)) {
    const npm = Bun.which("npm");
    if (!npm) fail(`the ${t.bunTarget} runtime comes from npm (${t.runtimePackage}@${version}), but npm is not on PATH`);
    const tmp = mkdtempSync(join(dirname(cacheDir), ".fetch-"));
    try {
      const spec = `${t.runtimePackage}@${version}`;
      const pack = run([npm, "pack", "--silent", spec], tmp);
      if (!pack.ok) fail(`npm pack ${spec} failed (the ${t.bunTarget} runtime):\n${pack.out}`);
      const tgz = join(tmp, pack.out.split("\n").pop()!.trim());
      if (!existsSync(tgz)) fail(`npm pack ${spec} printed "${pack.out}", expected the name of the .tgz it wrote`);
      const untar = run(["tar", "-xzf", tgz, "-C", tmp, "package/bin/bun"]);
      if (!untar.ok) fail(`${tgz}: expected package/bin/bun inside:\n${untar.out}`);
      mkdirSync(cacheDir, { recursive: true });
      renameSync(join(tmp, "package", "bin", "bun"), bin);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    console.log(`compile: fetched ${t.runtimePackage}@${version} (${(statSync(bin).size / 1e6).toFixed(0)} MB) into ${cacheDir}`);
  }
  const machine = elfMachine(bin);
  if (machine !== t.elfMachine) fail(`${bin}: ELF machine ${machine ?? "none (not a 64-bit ELF file)"}, expected ${t.elfMachine} for ${t.bunTarget}; delete it to fetch it again`);
  return bin;
}

mkdirSync(join(root, "node_modules", ".cache", "bunwg-runtimes"), { recursive: true });

// The libraries must exist to be embedded: build them for the target (a no-op when up to date).
const libDir = join(root, "zig", "zig-out", "lib");
const build = Bun.spawnSync([process.execPath, join(root, "scripts", "build-zig.ts"), `--arch=${target.arch}`], { cwd: root, stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) fail("building the Zig library failed (see above); the executable needs it embedded");
const libs = libraryFileNames(target.arch);
for (const name of libs) {
  if (!existsSync(join(libDir, name))) fail(`${join(libDir, name)} is missing after the Zig build`);
}

const runtime = runtimeFor(target);
mkdirSync(dirname(outfile), { recursive: true });
const cmd = [
  process.execPath,
  "build",
  "--compile",
  `--target=${target.bunTarget}`,
  `--compile-executable-path=${runtime}`,
  "--minify-syntax",
  // Bytecode: start-up to a ready configuration socket 50 → 25 ms (bench/startup.ts); ESM for wg.ts's top-level await.
  "--bytecode",
  "--format=esm",
  // Embedded as zig/zig-out/lib/libbunwg-….so; src/native/embed.ts finds them by file name.
  ...libs.map((name) => `--asset=${relative(root, join(libDir, name))}`),
  join(root, "src", "cli", "compiledEntry.ts"),
  "--outfile",
  outfile,
];
const started = performance.now();
const r = Bun.spawnSync(cmd, { cwd: root, stdout: "pipe", stderr: "pipe" });
if (r.exitCode !== 0) fail(`bun build failed:\n${r.stdout.toString()}${r.stderr.toString()}`);
const mb = (statSync(outfile).size / 1e6).toFixed(0);
console.log(`compile: wrote ${outfile} (${mb} MB, ${target.bunTarget}, ${libs.join(" ")}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
