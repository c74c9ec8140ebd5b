/** Which viewer a file gets, from its name, its first bytes and its size. Reads stop at the
 * bridge's 16 MiB (`MAX_READ_BYTES`, reported as `truncated`): a cut image or PDF cannot be
 * shown, so it is named too large rather than shown broken. */

/** Where the bridge cuts reads (pi-bridge's `MAX_READ_BYTES`), for messages. */
export const READ_LIMIT = 16 * 1024 * 1024;

/** Rendering Markdown (parse, highlight) of more than this freezes the tab for seconds; such a
 * file is still edited as text. */
export const MARKDOWN_RENDER_LIMIT = 1024 * 1024;

const MEDIA_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  pdf: "application/pdf",
};

const MARKDOWN = new Set(["md", "markdown"]);

function extension(path: string): string {
  const name = path.split("/").pop() ?? "";
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/** The media type an image or PDF is shown as, by its name; null for anything else. */
export function mediaType(path: string): string | null {
  return MEDIA_TYPES[extension(path)] ?? null;
}

export type Media = { kind: "image"; mime: string } | { kind: "pdf" } | { kind: "too-large"; mime: string } | { kind: "contents" };

/** How a file whose first bytes are `head` is shown: as an image, a PDF, too large for either, or
 * by its contents (text or bytes). A PDF is shown only when its bytes start as a PDF does: the
 * browser's viewer would only fail on anything else, which is better read as what it is. */
export function chooseMedia(path: string, head: Uint8Array, truncated: boolean): Media {
  const mime = mediaType(path);
  if (!mime) return { kind: "contents" };
  if (mime === "application/pdf" && !startsWith(head, PDF_MAGIC)) return { kind: "contents" };
  if (truncated) return { kind: "too-large", mime };
  return mime === "application/pdf" ? { kind: "pdf" } : { kind: "image", mime };
}

/** Whether a text file offers a rendered preview: Markdown, whole and small enough to render. */
export function markdownView(path: string, size: number, truncated: boolean): "render" | "too-large" | null {
  if (!MARKDOWN.has(extension(path))) return null;
  return truncated || size > MARKDOWN_RENDER_LIMIT ? "too-large" : "render";
}

const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // "%PDF-"

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/** A size as people read it: bytes, KiB, MiB (binary units, as the read limit is given). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
