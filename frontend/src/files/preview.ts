/**
 * How a workspace file is shown. A file is the agent's to write, so nothing in it may run in the
 * gateway's origin (where the user's session lives): images, SVG included, are shown only as an
 * `<img>` of a `data:` URL (browsers run no script in an image and load nothing it names), and
 * everything else, HTML included, as text or bytes, never as a document.
 */
import { base64ToBytes, bytesToText, imageType } from "./base64";

export type Preview =
  | { kind: "text"; path: string; saved: string; text: string; truncated: boolean }
  | { kind: "image"; path: string; url: string; bytes: Uint8Array }
  | { kind: "binary"; path: string; size: number; bytes: Uint8Array };

export function previewOf(path: string, content: string, size?: number, truncated = false): Preview {
  const bytes = base64ToBytes(content);
  const image = imageType(path);
  if (image) return { kind: "image", path, bytes, url: `data:${image};base64,${content}` };
  const text = bytesToText(bytes);
  if (text === null) return { kind: "binary", path, size: size ?? bytes.length, bytes };
  return { kind: "text", path, saved: text, text, truncated };
}

/** A download of the bytes that a browser saves and never renders, whatever they contain. */
export function downloadBlob(bytes: Uint8Array): Blob {
  return new Blob([bytes as BlobPart], { type: "application/octet-stream" });
}
