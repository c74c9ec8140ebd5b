import { useRef, useState } from "react";
import type { CreatedKey } from "../api/rest";

/** A key just made, shown this once, with a copy button. When the clipboard is not available
 * (a page not served over HTTPS, a refused permission) the key is selected for Ctrl+C. */
export function NewKey({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const copy = () => {
    const selectIt = () => {
      field.current?.focus();
      field.current?.select();
      setCopied("Select the key and copy it with Ctrl+C: the clipboard is not available here.");
    };
    if (!navigator.clipboard) return selectIt();
    navigator.clipboard.writeText(created.key).then(() => setCopied("Copied to the clipboard."), selectIt);
  };
  return (
    <section className="card new-key" aria-label="new API key">
      <p>
        <strong>Copy the new key “{created.name}” now:</strong> it is shown only this once.
      </p>
      <div className="row">
        <input ref={field} className="key-value" readOnly value={created.key} aria-label="the new API key" onFocus={(e) => e.target.select()} />
        <button type="button" onClick={copy}>
          Copy
        </button>
        <button type="button" className="ghost" onClick={onDone}>
          Done
        </button>
      </div>
      <p className="small muted" role="status">
        {copied ?? "Use it as oqtoctl's --token or in the X-API-Key header."}
      </p>
    </section>
  );
}
