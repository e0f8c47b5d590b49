// Entry of the standalone executable (scripts/compile.ts): embed the Zig library variants first, so src/native/lib.ts
// finds them inside the executable (loaded through a memfd), then run the ordinary entry, wg.ts.
import "../native/embed.ts";
import "../../wg.ts";
