import { describe, expect, it } from "vitest";
import { bytesToBase64, textToBase64 } from "./base64";
import { downloadBlob, pdfBlob, previewOf, sameContents } from "./preview";

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

  it("hands a PDF to the browser's viewer only as a blob typed application/pdf", () => {
    const pdf = previewOf("paper.pdf", textToBase64("%PDF-1.4\n%%EOF\n"));
    expect(pdf.kind).toBe("pdf");
    expect(pdfBlob(new TextEncoder().encode(html)).type).toBe("application/pdf");
    // HTML named .pdf stays text: it never reaches a frame.
    expect(previewOf("page.pdf", textToBase64(html)).kind).toBe("text");
  });

  it("shows an image or PDF cut at the read limit as too large, not broken", () => {
    const cut = previewOf("big.png", bytesToBase64(new Uint8Array([0x89, 0x50])), 20_000_000, true);
    expect(cut).toMatchObject({ kind: "binary", tooLarge: true, truncated: true, size: 20_000_000 });
  });

  it("offers Markdown a rendered view, other text not", () => {
    expect(previewOf("README.md", textToBase64("# Hi")).kind).toBe("text");
    expect(previewOf("README.md", textToBase64("# Hi"))).toMatchObject({ markdown: "render" });
    expect(previewOf("notes.txt", textToBase64("# Hi"))).toMatchObject({ markdown: null });
    expect(previewOf("huge.md", textToBase64("# Hi"), 50_000_000, true)).toMatchObject({ markdown: "too-large", truncated: true });
  });

  it("keeps the shown view when a re-read finds the same contents", () => {
    const a = previewOf("paper.pdf", textToBase64("%PDF-1.4\nA"));
    expect(sameContents(a, previewOf("paper.pdf", textToBase64("%PDF-1.4\nA")))).toBe(true);
    expect(sameContents(a, previewOf("paper.pdf", textToBase64("%PDF-1.4\nB")))).toBe(false);
    expect(sameContents(a, previewOf("other.pdf", textToBase64("%PDF-1.4\nA")))).toBe(false);
    const text = previewOf("n.txt", textToBase64("x"));
    expect(sameContents(text, previewOf("n.txt", textToBase64("x")))).toBe(true);
    expect(sameContents(text, previewOf("n.txt", textToBase64("y")))).toBe(false);
    // Same name, now binary: a different view.
    expect(sameContents(text, previewOf("n.txt", bytesToBase64(new Uint8Array([0xff]))))).toBe(false);
  });
});
