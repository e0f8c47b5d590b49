// The CPU levels the Zig library is built for (zig/build.zig) and how to pick one at load time, so one package
// runs on any x86-64 without SIGILL and still uses AVX-512 where the CPU has it. 64-bit ARM has one build: its
// baseline, ARMv8-A, always has NEON, which is all the library's vectors use there.
import { readFileSync } from "node:fs";

export interface Variant {
  readonly id: string; // file suffix: libbunwg-<id>.so
  readonly label: string; // shown in Aead.backend
  readonly needs: readonly string[]; // /proc/cpuinfo flags the code may use
}

export const X86_64_VARIANTS: readonly Variant[] = [
  { id: "x86_64_v4", label: "x86-64-v4 (AVX-512)", needs: ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd", "avx2", "bmi2", "fma"] },
  { id: "x86_64_v3", label: "x86-64-v3 (AVX2)", needs: ["avx2", "bmi1", "bmi2", "fma", "movbe", "f16c"] },
  { id: "x86_64", label: "x86-64 (baseline)", needs: [] },
];

export const AARCH64_VARIANTS: readonly Variant[] = [{ id: "aarch64", label: "aarch64 (NEON)", needs: [] }];

// Node's process.arch names → Zig's architecture names (the library file suffix and zig build -Darch).
const ARCH_NAMES: Record<string, string> = { x64: "x86_64", arm64: "aarch64", riscv64: "riscv64", ppc64: "powerpc64le", s390x: "s390x" };

/** Zig's name for a Node architecture name ("arm64" → "aarch64"). */
export function zigArch(arch: string = process.arch): string {
  return ARCH_NAMES[arch] ?? arch;
}

/** All variants for this architecture, fastest first. */
export function variantsFor(arch: string = process.arch): readonly Variant[] {
  if (arch === "x64") return X86_64_VARIANTS;
  if (arch === "arm64") return AARCH64_VARIANTS;
  const name = ARCH_NAMES[arch] ?? arch;
  return [{ id: name, label: name, needs: [] }];
}

export function libraryFileName(v: Variant): string {
  return `libbunwg-${v.id}.so`;
}

export function libraryFileNames(arch: string = process.arch): string[] {
  return variantsFor(arch).map(libraryFileName);
}

let flagsCache: Set<string> | undefined;
/** The CPU feature flags of the first processor in /proc/cpuinfo (empty when unreadable). */
export function cpuFlags(): Set<string> {
  if (flagsCache) return flagsCache;
  let flags = new Set<string>();
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => /^(flags|Features)\s*:/.test(l));
    if (line) flags = new Set(line.slice(line.indexOf(":") + 1).trim().split(/\s+/));
  } catch {
    // Not Linux or /proc not mounted: only the baseline is safe.
  }
  flagsCache = flags;
  return flags;
}

/** Variants this CPU can run, fastest first; the last one (baseline) always qualifies. */
export function supportedVariants(arch: string = process.arch, flags: Set<string> = cpuFlags()): Variant[] {
  return variantsFor(arch).filter((v) => v.needs.every((f) => flags.has(f)));
}
