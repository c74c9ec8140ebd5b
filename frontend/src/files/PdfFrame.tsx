import { useEffect, useState } from "react";
import { pdfBlob } from "./preview";

/** A PDF in the browser's own viewer, from a blob URL that lives as long as the frame. The frame
 * cannot be sandboxed (browsers refuse to run their PDF viewer in a sandboxed frame); what keeps
 * the file from running in this origin is the blob's fixed type, `application/pdf`: the browser
 * gives such a blob to its PDF viewer, never renders it as a page (see preview.ts). The gateway's
 * CSP allows frames of `blob:` for this (gateway/src/api/mod.rs). */
export function PdfFrame({ path, bytes }: { path: string; bytes: Uint8Array }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    const made = URL.createObjectURL(pdfBlob(bytes));
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [bytes]);
  return url ? <iframe className="pdf-preview" src={url} title={`preview of ${path}`} /> : null;
}
