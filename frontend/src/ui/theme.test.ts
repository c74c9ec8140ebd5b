import { describe, expect, it } from "vitest";
import { nextTheme, resolveTheme } from "./theme";

describe("themes", () => {
  it("follow the system unless one is chosen", () => {
    expect(resolveTheme("system", true)).toBe("dark");
    expect(resolveTheme("system", false)).toBe("light");
    expect(resolveTheme("light", true)).toBe("light");
  });

  it("cycle through system, dark and light", () => {
    expect([nextTheme("system"), nextTheme("dark"), nextTheme("light")]).toEqual(["dark", "light", "system"]);
  });
});
