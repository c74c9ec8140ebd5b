import { useEffect, useRef, useState } from "react";
import type { TreeEntry } from "../generated/TreeEntry";
import { ConfirmButton } from "../ui/ConfirmButton";
import { planRename } from "./paths";
import { parentOf } from "./tree";

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Rename, move and delete one entry of the tree, shown under it. The name is checked as it is
 * typed; what the bridge refuses is shown here, and the panel stays open with what was typed. */
export function EntryActions({
  entry,
  targets,
  loses,
  onRename,
  onDelete,
  onClose,
}: {
  entry: TreeEntry;
  /** The folders it may go to ("" is the workspace's top). */
  targets: string[];
  /** Unsaved edits that deleting it would throw away: the open file's path, if it is inside. */
  loses: string | null;
  onRename: (to: string) => Promise<void>;
  onDelete: () => Promise<void>;
  onClose: () => void;
}) {
  const here = parentOf(entry.path);
  const [name, setName] = useState(entry.name);
  const [folder, setFolder] = useState(here);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);

  // Ready to type over the name, its extension kept, as file managers do.
  useEffect(() => {
    const dot = entry.type === "directory" ? -1 : entry.name.lastIndexOf(".");
    input.current?.focus();
    input.current?.setSelectionRange(0, dot > 0 ? dot : entry.name.length);
  }, [entry.path]);

  const untouched = name === entry.name && folder === here;
  const plan = planRename(entry, folder, name);
  const invalid = !untouched && "error" in plan ? plan.error : null;
  const moving = folder !== here;
  const isDir = entry.type === "directory";

  const run = (action: () => Promise<void>) => {
    setBusy(true);
    setFailed(null);
    action()
      .catch((e: unknown) => setFailed(message(e)))
      .finally(() => setBusy(false));
  };
  const submit = () => {
    if (busy || untouched || "error" in plan) return;
    run(() => onRename(plan.path).catch((e: unknown) => Promise.reject(new Error(`${moving ? "Moving" : "Renaming"} failed: ${message(e)}`))));
  };

  return (
    <div
      className="entry-actions"
      onKeyDown={(e) => {
        // Escape in the confirmation dialog closes only the dialog.
        if (e.key === "Escape" && !(e.target as Element).closest("dialog")) onClose();
      }}
    >
      <label>
        New name
        <input
          ref={input}
          value={name}
          aria-invalid={invalid ? true : undefined}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => {
            setName(e.target.value);
            setFailed(null);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              submit();
            }
          }}
        />
      </label>
      <label>
        Move to
        <select
          value={folder}
          onChange={(e) => {
            setFolder(e.target.value);
            setFailed(null);
          }}
        >
          {targets.map((f) => (
            <option key={f} value={f}>
              {f ? `/${f}` : "/ (top)"}
            </option>
          ))}
        </select>
      </label>
      {invalid && (
        <p className="error field-error" role="alert">
          {invalid}
        </p>
      )}
      <div className="row">
        <button type="button" onClick={submit} disabled={busy || untouched || invalid !== null}>
          {moving ? "Move" : "Rename"}
        </button>
        <ConfirmButton
          label="Delete"
          question={
            `Delete ${isDir ? "the folder " : ""}${entry.path}${isDir ? " and everything in it" : ""}? This cannot be undone.` +
            (loses ? ` Your unsaved changes to ${loses} are lost too.` : "")
          }
          confirmLabel="Delete"
          onConfirm={() => !busy && run(() => onDelete().catch((e: unknown) => Promise.reject(new Error(`Deleting failed: ${message(e)}`))))}
        />
        <span className="spacer" />
        <button type="button" className="ghost" onClick={onClose}>
          Close
        </button>
      </div>
      {busy && <p className="muted field-error">Working…</p>}
      {failed && (
        <p className="error field-error" role="alert">
          {failed}
        </p>
      )}
    </div>
  );
}
