// The core is sans-IO and owns its crypto contract (noise/crypto.ts): no file in src/noise imports anything but
// its siblings — no backend, no Bun or node module, no package — and nothing in it hands out a process-wide setter.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const DIR = join(import.meta.dir, "..", "..", "src", "noise");

test("src/noise imports only its own files", () => {
  const outside: string[] = [];
  for (const f of readdirSync(DIR).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(DIR, f), "utf8");
    for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      if (!/^\.\/[\w.-]+\.ts$/.test(spec)) outside.push(`${f}: ${spec}`);
    }
  }
  expect(outside).toEqual([]);
});

test("src/noise keeps no replaceable module-level implementation (no use…/set… exports)", () => {
  const setters: string[] = [];
  for (const f of readdirSync(DIR).filter((f) => f.endsWith(".ts"))) {
    for (const m of readFileSync(join(DIR, f), "utf8").matchAll(/export\s+function\s+((?:use|set)[A-Z]\w*)/g)) setters.push(`${f}: ${m[1]}`);
  }
  expect(setters).toEqual([]);
});
