import { describe, expect, it } from "vitest";
import { keyNameProblem, passwordProblem, repeatProblem, usernameProblem } from "./rules";

describe("account input rules (the gateway's)", () => {
  it("wants passwords of 8 characters, counted as characters, and at most 1024 bytes", () => {
    expect(passwordProblem("short")).toBe("at least 8 characters");
    expect(passwordProblem("long enough")).toBeNull();
    // Four emoji are 8 UTF-16 units but 4 characters.
    expect(passwordProblem("😀😀😀😀")).toBe("at least 8 characters");
    expect(passwordProblem("x".repeat(1024))).toBeNull();
    // 600 two-byte characters are 1200 bytes.
    expect(passwordProblem("é".repeat(600))).toBe("at most 1024 bytes");
  });
  it("compares the repeated password exactly", () => {
    expect(repeatProblem("secret-one", "secret-one")).toBeNull();
    expect(repeatProblem("secret-one", "secret-one ")).toBe("the two passwords differ");
  });
  it("takes usernames the gateway takes", () => {
    for (const ok of ["bob", "carol-1", "a_b", "9lives", "x".repeat(50)]) expect(usernameProblem(ok), ok).toBeNull();
    expect(usernameProblem("al")).toBe("3 to 50 characters");
    expect(usernameProblem("x".repeat(51))).toBe("3 to 50 characters");
    for (const bad of ["Carol", "-bob", "_bob", "bo b", "bob!", "bób"]) expect(usernameProblem(bad), bad).toMatch(/lowercase/);
  });
  it("wants a key name of 1 to 100 characters after trimming", () => {
    expect(keyNameProblem("  ")).toMatch(/name/);
    expect(keyNameProblem(" ci ")).toBeNull();
    expect(keyNameProblem("k".repeat(100))).toBeNull();
    expect(keyNameProblem("k".repeat(101))).toBe("at most 100 characters");
  });
});
