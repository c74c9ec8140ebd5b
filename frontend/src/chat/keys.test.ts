import { describe, expect, it } from "vitest";
import { composerKey } from "./keys";

const key = (k: string, mods: Partial<{ shiftKey: boolean; altKey: boolean; composing: boolean }> = {}) => ({
  key: k,
  shiftKey: false,
  altKey: false,
  composing: false,
  ...mods,
});

describe("the message box's keys", () => {
  it("send a prompt when the agent is idle, steer or queue a follow-up while it works", () => {
    expect(composerKey(key("Enter"), false)).toEqual({ send: "prompt" });
    expect(composerKey(key("Enter"), true)).toEqual({ send: "steer" });
    expect(composerKey(key("Enter", { altKey: true }), true)).toEqual({ send: "follow_up" });
  });

  it("leave Shift+Enter and IME composition to typing", () => {
    expect(composerKey(key("Enter", { shiftKey: true }), false)).toBeNull();
    expect(composerKey(key("Enter", { composing: true }), true)).toBeNull();
    expect(composerKey(key("a"), true)).toBeNull();
  });

  it("stop the agent with Escape only while it works", () => {
    expect(composerKey(key("Escape"), true)).toBe("abort");
    expect(composerKey(key("Escape"), false)).toBeNull();
  });
});
