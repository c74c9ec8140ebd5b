/**
 * How a workspace file is shown. A file is the agent's to write, so nothing in it may run in the
 * gateway's origin (where the user's session lives): images, SVG included, are shown only as an
 * `<img>` of a `data:` URL (browsers run no script in an image and load nothing it names); a PDF
 * only as a blob typed `application/pdf` in a frame, which the browser hands to its PDF viewer
 * whatever the bytes hold (HTML in it is not rendered as a page); Markdown only through the
 * chat's renderer, which renders no raw HTML; everything else, HTML included, as text or bytes,
 * never as a document.
 */
import { base64ToBytes, bytesToText } from "./base64";
import { chooseMedia, markdownView } from "./kind";

export type Preview =
  | { kind: "text"; path: string; saved: string; text: string; truncated: boolean; markdown: "render" | "too-large" | null }
  | { kind: "image"; path: string; url: string; bytes: Uint8Array }
  | { kind: "pdf"; path: string; bytes: Uint8Array }
  | { kind: "binary"; path: string; size: number; bytes: Uint8Array; truncated: boolean; tooLarge: boolean };

export function previewOf(path: string, content: string, size?: number, truncated = false): Preview {
  const bytes = base64ToBytes(content);
  const total = size ?? bytes.length;
  const media = chooseMedia(path, bytes, truncated);
  if (media.kind === "image") return { kind: "image", path, bytes, url: `data:${media.mime};base64,${content}` };
  if (media.kind === "pdf") return { kind: "pdf", path, bytes };
  if (media.kind === "too-large") return { kind: "binary", path, size: total, bytes, truncated, tooLarge: true };
  const text = bytesToText(bytes);
  if (text === null) return { kind: "binary", path, size: total, bytes, truncated, tooLarge: false };
  return { kind: "text", path, saved: text, text, truncated, markdown: markdownView(path, total, truncated) };
}

/** The PDF's bytes as a blob the browser shows with its PDF viewer, never as a page. */
export function pdfBlob(bytes: Uint8Array): Blob {
  return new Blob([bytes as BlobPart], { type: "application/pdf" });
}

/** Whether a re-read found the file as it is shown: then the view is kept as it is (a PDF is not
 * reloaded, losing its page, each time the agent runs a tool). */
export function sameContents(shown: Preview, read: Preview): boolean {
  if (shown.path !== read.path || shown.kind !== read.kind) return false;
  if (shown.kind === "text" && read.kind === "text") return shown.saved === read.saved && shown.truncated === read.truncated;
  if (shown.kind === "text" || read.kind === "text") return false;
  return sameBytes(shown.bytes, read.bytes);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** A download of the bytes that a browser saves and never renders, whatever they contain. */
export function downloadBlob(bytes: Uint8Array): Blob {
  return new Blob([bytes as BlobPart], { type: "application/octet-stream" });
}
