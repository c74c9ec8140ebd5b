import { describe, expect, it } from "vitest";
import { SHORTCUTS, shortcutFor, type KeyLike } from "./shortcuts";

const key = (k: string, mods: Partial<KeyLike> = {}): KeyLike => ({ key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

describe("shortcuts", () => {
  it("map keys to actions outside fields", () => {
    expect(shortcutFor(key("k", { ctrlKey: true }), false)).toBe("search");
    expect(shortcutFor(key("K", { metaKey: true }), false)).toBe("search");
    expect(shortcutFor(key("/"), false)).toBe("search");
    expect(shortcutFor(key("?", { shiftKey: true }), false)).toBe("help");
    expect(shortcutFor(key("n", { altKey: true }), false)).toBe("new-session");
    expect(shortcutFor(key("˜", { altKey: true, code: "KeyN" }), false)).toBe("new-session");
    expect(shortcutFor(key("ArrowDown", { altKey: true }), false)).toBe("next-session");
    expect(shortcutFor(key("ArrowUp", { altKey: true }), false)).toBe("previous-session");
    expect(shortcutFor(key("x"), false)).toBeNull();
  });

  it("leave plain keys to the field being typed in, but not the modified ones", () => {
    expect(shortcutFor(key("/"), true)).toBeNull();
    expect(shortcutFor(key("?"), true)).toBeNull();
    expect(shortcutFor(key("k", { ctrlKey: true }), true)).toBe("search");
    expect(shortcutFor(key("ArrowDown", { altKey: true }), true)).toBe("next-session");
    expect(shortcutFor(key("k", { ctrlKey: true, altKey: true }), false)).toBeNull();
  });

  it("are all listed in the help", () => {
    const actions = new Set(SHORTCUTS.map((s) => s.action));
    expect(actions).toEqual(new Set(["search", "new-session", "next-session", "previous-session", "help"]));
  });
});
