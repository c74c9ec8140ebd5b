import { useState } from "react";
import { planNewFolder } from "./paths";

/** The name of a new folder in `folder`, checked as it is typed; what the bridge refuses (a
 * name that exists) is shown here, the form kept open with the name. */
export function NewFolderForm({ folder, onCreate, onClose }: { folder: string; onCreate: (path: string) => Promise<void>; onClose: () => void }) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const plan = planNewFolder(folder, name);
  // An empty field is not yet a mistake; the button says so by being disabled.
  const invalid = name !== "" && "error" in plan ? plan.error : null;

  const submit = () => {
    if (busy || "error" in plan) return;
    setBusy(true);
    setFailed(null);
    onCreate(plan.path)
      .catch((e: unknown) => setFailed(`Creating the folder failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => setBusy(false));
  };

  return (
    <div className="new-folder" onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <label>
        {`New folder in /${folder}`}
        <input
          value={name}
          autoFocus
          aria-invalid={invalid ? true : undefined}
          spellCheck={false}
          autoComplete="off"
          placeholder="name"
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
      {invalid && (
        <p className="error field-error" role="alert">
          {invalid}
        </p>
      )}
      <div className="row">
        <button type="button" onClick={submit} disabled={busy || "error" in plan}>
          Create
        </button>
        <button type="button" className="ghost" onClick={onClose}>
          Cancel
        </button>
      </div>
      {failed && (
        <p className="error field-error" role="alert">
          {failed}
        </p>
      )}
    </div>
  );
}
