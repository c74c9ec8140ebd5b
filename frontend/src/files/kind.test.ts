import { describe, expect, it } from "vitest";
import { chooseMedia, formatSize, MARKDOWN_RENDER_LIMIT, markdownView, mediaType } from "./kind";

const pdfHead = new TextEncoder().encode("%PDF-1.4\n");
const none = new Uint8Array();

describe("which viewer a file gets", () => {
  it("knows images and PDFs by extension, whatever its case", () => {
    expect(mediaType("a/b.PNG")).toBe("image/png");
    expect(mediaType("x.jpeg")).toBe("image/jpeg");
    expect(mediaType("logo.svg")).toBe("image/svg+xml");
    expect(mediaType("paper.pdf")).toBe("application/pdf");
    expect(mediaType("notes.md")).toBeNull();
    // A dot file has no extension: ".png" is a name, not a PNG.
    expect(mediaType(".png")).toBeNull();
    expect(mediaType("png")).toBeNull();
  });

  it("shows images, SVG included, as images", () => {
    for (const [path, mime] of [["a.png", "image/png"], ["b.gif", "image/gif"], ["c.webp", "image/webp"], ["d.svg", "image/svg+xml"], ["e.jpg", "image/jpeg"]]) {
      expect(chooseMedia(path!, none, false)).toEqual({ kind: "image", mime });
    }
  });

  it("shows a PDF only when its bytes start as a PDF does", () => {
    expect(chooseMedia("paper.pdf", pdfHead, false)).toEqual({ kind: "pdf" });
    // HTML named .pdf is read as what it is (text), not handed to a frame.
    expect(chooseMedia("page.pdf", new TextEncoder().encode("<html><script>"), false)).toEqual({ kind: "contents" });
    expect(chooseMedia("empty.pdf", none, false)).toEqual({ kind: "contents" });
  });

  it("names a cut image or PDF too large instead of showing it broken", () => {
    expect(chooseMedia("huge.png", none, true)).toEqual({ kind: "too-large", mime: "image/png" });
    expect(chooseMedia("huge.pdf", pdfHead, true)).toEqual({ kind: "too-large", mime: "application/pdf" });
  });

  it("leaves everything else to its contents", () => {
    expect(chooseMedia("notes.md", none, false)).toEqual({ kind: "contents" });
    expect(chooseMedia("page.html", none, true)).toEqual({ kind: "contents" });
  });

  it("offers a Markdown preview up to the render limit, for .md and .markdown only", () => {
    expect(markdownView("README.md", 10, false)).toBe("render");
    expect(markdownView("doc.MARKDOWN", MARKDOWN_RENDER_LIMIT, false)).toBe("render");
    expect(markdownView("big.md", MARKDOWN_RENDER_LIMIT + 1, false)).toBe("too-large");
    expect(markdownView("cut.md", 10, true)).toBe("too-large");
    expect(markdownView("notes.txt", 10, false)).toBeNull();
    expect(markdownView("md", 10, false)).toBeNull();
  });

  it("writes sizes as people read them", () => {
    expect(formatSize(0)).toBe("0 bytes");
    expect(formatSize(1023)).toBe("1023 bytes");
    expect(formatSize(1536)).toBe("1.5 KiB");
    expect(formatSize(16 * 1024 * 1024)).toBe("16 MiB");
    expect(formatSize(3 * 1024 ** 4 * 1024)).toBe("3072 TiB");
  });
});
