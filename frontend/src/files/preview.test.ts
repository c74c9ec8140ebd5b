import { describe, expect, it } from "vitest";
import { textToBase64 } from "./base64";
import { downloadBlob, previewOf } from "./preview";

const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/api/keys")</script></svg>';
const html = '<html><body><script>fetch("/api/keys")</script></body></html>';

describe("file previews", () => {
  it("shows an SVG only as an image of a data: URL, where its scripts never run", () => {
    const preview = previewOf("evil.svg", textToBase64(svg));
    expect(preview.kind).toBe("image");
    if (preview.kind !== "image") return;
    expect(preview.url.startsWith("data:image/svg+xml;base64,")).toBe(true);
  });

  it("shows HTML as text to read and edit, never as a page", () => {
    for (const path of ["page.html", "page.htm", "page.xhtml"]) {
      const preview = previewOf(path, textToBase64(html));
      expect(preview.kind).toBe("text");
      if (preview.kind === "text") expect(preview.text).toBe(html);
    }
  });

  it("downloads are opaque bytes, not a document the browser would render", () => {
    expect(downloadBlob(new TextEncoder().encode(html)).type).toBe("application/octet-stream");
  });
});
