import { describe, expect, it } from "vitest";
import { base64ToBytes, bytesToBase64, bytesToText, textToBase64 } from "./base64";

describe("file contents", () => {
  it("round-trip text with non-ASCII characters through base64", () => {
    const text = "# Grüße 🚀\n";
    expect(bytesToText(base64ToBytes(textToBase64(text)))).toBe(text);
    expect(textToBase64("hi")).toBe("aGk=");
  });

  it("keep large binary contents intact and refuse them as text", () => {
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    expect(base64ToBytes(bytesToBase64(bytes))).toEqual(bytes);
    expect(bytesToText(new Uint8Array([0xff, 0xfe, 0x00]))).toBeNull();
  });
});
