// The one place the version lives; package.json is checked against it in a test.
export const VERSION = "0.1.0";
