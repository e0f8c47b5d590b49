// `import lib from "x.so" with { type: "file" }` gives the file's path (inside a compiled executable: its embedded path).
declare module "*.so" {
  const path: string;
  export default path;
}
