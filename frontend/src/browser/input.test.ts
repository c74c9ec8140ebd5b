import { describe, expect, it } from "vitest";
import { keyText, modifiers, navigable, pagePoint, textChunks, MAX_TEXT } from "./input";

describe("the Browser tab's input", () => {
  const box = { left: 100, top: 50, width: 640, height: 400 };
  const page = { width: 1280, height: 800 };

  it("maps a pointer on the scaled frame to the page's CSS pixels", () => {
    expect(pagePoint(100, 50, box, page)).toEqual({ x: 0, y: 0 });
    expect(pagePoint(420, 250, box, page)).toEqual({ x: 640, y: 400 });
    expect(pagePoint(740, 450, box, page)).toEqual({ x: 1280, y: 800 });
    expect(pagePoint(100.05, 50, box, page)).toEqual({ x: 0.1, y: 0 });
  });

  it("sends nothing for a pointer outside the frame or before the first frame", () => {
    expect(pagePoint(99, 60, box, page)).toBeNull();
    expect(pagePoint(200, 451, box, page)).toBeNull();
    expect(pagePoint(200, 60, box, { width: 0, height: 0 })).toBeNull();
  });

  it("counts modifiers as CDP does", () => {
    expect(modifiers({ altKey: true, ctrlKey: false, metaKey: false, shiftKey: false })).toBe(1);
    expect(modifiers({ altKey: false, ctrlKey: true, metaKey: true, shiftKey: true })).toBe(14);
  });

  it("gives printable keys and Enter their text, other keys and shortcuts none", () => {
    expect(keyText({ key: "a", ctrlKey: false, metaKey: false, altKey: false })).toBe("a");
    expect(keyText({ key: "é", ctrlKey: false, metaKey: false, altKey: false })).toBe("é");
    expect(keyText({ key: "Enter", ctrlKey: false, metaKey: false, altKey: false })).toBe("\r");
    expect(keyText({ key: "Backspace", ctrlKey: false, metaKey: false, altKey: false })).toBeUndefined();
    expect(keyText({ key: "c", ctrlKey: true, metaKey: false, altKey: false })).toBeUndefined();
  });

  it("splits a long paste into frames the channel accepts, without splitting a character", () => {
    const text = "😀".repeat(MAX_TEXT + 1);
    const chunks = textChunks(text);
    expect(chunks).toHaveLength(2);
    expect([...chunks[0]!]).toHaveLength(MAX_TEXT);
    expect(chunks.join("")).toBe(text);
  });

  it("navigates only to http and https", () => {
    expect(navigable("127.0.0.1:8765/x")).toBe("http://127.0.0.1:8765/x");
    expect(navigable("https://example.org")).toBe("https://example.org/");
    expect(navigable("javascript:alert(1)")).toBeNull();
    expect(navigable("file:///etc/passwd")).toBeNull();
  });
});
