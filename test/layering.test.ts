// The layers the README's "How it is built" describes, checked from the import statements themselves:
// src/noise/ is the sans-IO core (imports nothing outside itself but the text codec), everything else reaches it through
// src/noise/index.ts, and no two modules of src/ import each other, directly or round a longer circle.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const SRC = join(ROOT, "src");
const NOISE = join(SRC, "noise");
// What the core may use besides itself: the text codec (no imports of its own; key text for peers' names in logs).
const CORE_DEPENDENCIES = [join(SRC, "text") + "/"];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

/** Every module specifier a file names: static imports and re-exports (type-only ones too) and dynamic imports. */
export function specifiers(text: string): string[] {
  const found: string[] = [];
  const statement = /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;
  for (const m of text.matchAll(statement)) found.push((m[1] ?? m[2] ?? m[3])!);
  return found;
}

interface Edge { from: string; to: string; spec: string }

function edgesOf(file: string): Edge[] {
  return specifiers(readFileSync(file, "utf8")).map((spec) => ({
    from: file,
    to: spec.startsWith(".") ? resolve(dirname(file), spec) : spec,
    spec,
  }));
}

const files = sourceFiles(SRC);
const edges = files.flatMap(edgesOf);
const rel = (p: string) => relative(ROOT, p);

describe("layering", () => {
  test("the parser sees every kind of import", () => {
    const text = [
      'import { a } from "./a.ts";',
      'import type { B } from "../b.ts";',
      'export { c } from "./c.ts";',
      'export * from "./d.ts";',
      'import "./e.ts";',
      'const f = await import("./f.ts");',
      "import {\n  g,\n  h,\n} from \"./g.ts\";",
    ].join("\n");
    expect(specifiers(text)).toEqual(["./a.ts", "../b.ts", "./c.ts", "./d.ts", "./e.ts", "./f.ts", "./g.ts"]);
  });

  test("src/noise/ (the sans-IO core) imports nothing outside itself and its declared dependencies", () => {
    const allowed = [NOISE + "/", ...CORE_DEPENDENCIES];
    const outside = edges
      .filter((e) => e.from.startsWith(NOISE + "/") || CORE_DEPENDENCIES.some((d) => e.from.startsWith(d)))
      .filter((e) => !e.spec.startsWith(".") || !allowed.some((d) => e.to.startsWith(d)))
      .map((e) => `${rel(e.from)} imports ${e.spec}`);
    expect(outside).toEqual([]);
  });

  test("src/noise/ keeps no replaceable module-level implementation (no use…/set… function exports)", () => {
    // The core receives its crypto per engine (src/noise/crypto.ts), never through a process-wide setter.
    const setters = files
      .filter((f) => f.startsWith(NOISE + "/"))
      .flatMap((f) => [...readFileSync(f, "utf8").matchAll(/export\s+function\s+((?:use|set)[A-Z]\w*)/g)].map((m) => `${rel(f)}: ${m[1]}`));
    expect(setters).toEqual([]);
  });

  test("the rest of src/ reaches the core only through src/noise/index.ts", () => {
    const past = edges
      .filter((e) => !e.from.startsWith(NOISE + "/") && e.to.startsWith(NOISE + "/") && e.to !== join(NOISE, "index.ts"))
      .map((e) => `${rel(e.from)} imports ${e.spec}`);
    expect(past).toEqual([]);
  });

  test("no circle of imports among the modules of src/", () => {
    const graph = new Map<string, string[]>();
    for (const f of files) graph.set(f, []);
    for (const e of edges) if (graph.has(e.to)) graph.get(e.from)!.push(e.to);
    const circles: string[] = [];
    const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
    const path: string[] = [];
    const visit = (f: string) => {
      state.set(f, 1);
      path.push(f);
      for (const to of graph.get(f)!) {
        if (state.get(to) === 1) circles.push([...path.slice(path.indexOf(to)), to].map(rel).join(" → "));
        else if (!state.has(to)) visit(to);
      }
      path.pop();
      state.set(f, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(circles).toEqual([]);
  });
});
