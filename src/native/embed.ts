// Imported first by the `bun build --compile` entry (scripts/compile.ts): tells lib.ts where the Zig library files
// embedded in the executable are. compile.ts embeds the target architecture's variants as assets (`--asset`, under
// their own names), so this file is the same for every target. In a source checkout nothing is embedded and lib.ts
// loads from zig/zig-out/lib.
import { basename, join } from "node:path";
import { registerEmbedded } from "./lib.ts";

const LIBRARY = /^libbunwg-[A-Za-z0-9_]+\.so$/;

if (Bun.isStandaloneExecutable) {
  const files: Record<string, string> = {};
  for (const blob of Bun.embeddedFiles) {
    const name = (blob as Blob & { name: string }).name;
    // Assets are readable with node:fs relative to the executable's root directory, which is this bundle's
    // import.meta.dir (Bun's CompileBuildOptions.assets).
    if (LIBRARY.test(basename(name))) files[basename(name)] = join(import.meta.dir, name);
  }
  registerEmbedded(files);
}
