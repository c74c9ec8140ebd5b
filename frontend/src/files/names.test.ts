import { describe, expect, it } from "vitest";
import { MAX_NAME_BYTES, nameProblem } from "./names";

describe("names of files and folders", () => {
  it("accepts ordinary names, dots, spaces inside and non-ASCII", () => {
    for (const name of ["notes.txt", ".github", "my notes", "Grüße 🚀.md", "a..b", "x".repeat(MAX_NAME_BYTES)]) {
      expect(nameProblem(name), name).toBeNull();
    }
  });

  it("refuses empty names, '.' and '..' with a message saying why", () => {
    expect(nameProblem("")).toMatch(/Enter a name/);
    expect(nameProblem("   ")).toMatch(/Enter a name/);
    expect(nameProblem(".")).toMatch(/“\.” is not a name/);
    expect(nameProblem("..")).toMatch(/“\.\.” is not a name/);
  });

  it("refuses a '/', which would make the name a path into another folder", () => {
    for (const name of ["a/b", "/etc", "docs/", "../x"]) expect(nameProblem(name), name).toMatch(/cannot contain “\/”/);
  });

  it("refuses control characters, edge spaces and names over NAME_MAX bytes", () => {
    expect(nameProblem("a\nb")).toMatch(/control characters/);
    expect(nameProblem("a\0b")).toMatch(/control characters/);
    expect(nameProblem(" lead")).toMatch(/start or end with a space/);
    expect(nameProblem("trail ")).toMatch(/start or end with a space/);
    // Counted in UTF-8 bytes, as the kernel does: 128 two-byte letters are 256 bytes.
    expect(nameProblem("ü".repeat(128))).toMatch(/at most 255 bytes/);
    expect(nameProblem("ü".repeat(127))).toBeNull();
  });
});
