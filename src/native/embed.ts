// Imported first by the `bun build --compile` entry (scripts/compile.ts): embeds the three library variants in the
// executable and tells lib.ts where they are. Not imported in a source checkout, where the files may not exist yet.
import x86_64 from "../../zig/zig-out/lib/libbunwg-x86_64.so" with { type: "file" };
import x86_64_v3 from "../../zig/zig-out/lib/libbunwg-x86_64_v3.so" with { type: "file" };
import x86_64_v4 from "../../zig/zig-out/lib/libbunwg-x86_64_v4.so" with { type: "file" };
import { registerEmbedded } from "./lib.ts";

registerEmbedded({
  "libbunwg-x86_64.so": x86_64,
  "libbunwg-x86_64_v3.so": x86_64_v3,
  "libbunwg-x86_64_v4.so": x86_64_v4,
});
