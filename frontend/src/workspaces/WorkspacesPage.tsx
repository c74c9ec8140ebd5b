import { useEffect, useState, type FormEvent } from "react";
import { api, type Workspace, type WorkspaceClassSummary } from "../api/rest";
import { ConfirmButton } from "../ui/ConfirmButton";
import { PhaseBadge } from "../ui/Phase";
import { navigate } from "../ui/router";
import { usePoll } from "../ui/usePoll";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function WorkspacesPage() {
  const { data, error, refresh } = usePoll(api.workspaces, 3000);
  const [actionError, setActionError] = useState<string | null>(null);
  return (
    <main className="page">
      <h1>Workspaces</h1>
      <CreateWorkspace onCreated={(w) => navigate({ page: "workspace", workspace: w.metadata.name })} />
      {error && <p className="error" role="alert">Could not load the workspaces: {error}</p>}
      {actionError && <p className="error" role="alert">{actionError}</p>}
      {data && data.length === 0 && <p className="muted">No workspaces yet: create one above.</p>}
      <ul className="list" aria-label="workspaces">
        {data?.map((w) => (
          <li key={w.metadata.name} className="item">
            <a
              href={`/w/${encodeURIComponent(w.metadata.name)}`}
              onClick={(e) => {
                e.preventDefault();
                navigate({ page: "workspace", workspace: w.metadata.name });
              }}
            >
              {w.metadata.name}
            </a>
            <PhaseBadge phase={w.status?.phase} message={w.status?.conditions?.[0]?.message} />
            <span className="muted">
              {w.spec.owner} · {w.spec.workspaceClassName ? `${w.spec.workspaceClassName} · ` : ""}
              {w.spec.storage?.size ?? "default size"}
              {w.spec.llm?.model ? ` · ${w.spec.llm.provider ?? ""}/${w.spec.llm.model}` : ""}
            </span>
            <span className="spacer" />
            <ConfirmButton
              label="Delete"
              question={`Delete workspace ${w.metadata.name} and its sessions?${w.spec.storage?.reclaimPolicy === "Delete" ? " Its files are deleted too." : " Its files are kept (reclaim policy Retain)."}`}
              confirmLabel="Delete workspace"
              onConfirm={() => {
                setActionError(null);
                api
                  .deleteWorkspace(w.metadata.name)
                  .then(refresh)
                  .catch((e: unknown) => setActionError(`Deleting ${w.metadata.name} failed: ${e instanceof Error ? e.message : String(e)}`));
              }}
            />
          </li>
        ))}
      </ul>
    </main>
  );
}

function CreateWorkspace({ onCreated }: { onCreated: (w: Workspace) => void }) {
  const [name, setName] = useState("");
  const [size, setSize] = useState("");
  const [reclaim, setReclaim] = useState<"Retain" | "Delete">("Retain");
  const [idle, setIdle] = useState("");
  const [provider, setProvider] = useState("");
  const [model, setModel] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Only the classes open to this user are offered; the gateway refuses any other.
  const [classes, setClasses] = useState<WorkspaceClassSummary[]>([]);
  const [className, setClassName] = useState("");
  useEffect(() => {
    let live = true;
    api
      .workspaceClasses()
      .then((items) => {
        if (!live) return;
        setClasses(items);
        setClassName((items.find((c) => c.default) ?? items[0])?.name ?? "");
      })
      .catch((e: unknown) => live && setError(`Could not load the workspace classes: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      live = false;
    };
  }, []);
  const chosen = classes.find((c) => c.name === className);
  const nameProblem = name && !NAME.test(name) ? "lowercase letters, digits and '-', starting and ending with a letter or digit" : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (nameProblem) return;
    const spec: Record<string, unknown> = { storage: { reclaimPolicy: reclaim, ...(size ? { size } : {}) } };
    if (className) spec.workspaceClassName = className;
    if (idle) spec.lifecycle = { idleTimeout: idle };
    if (provider || model) spec.llm = { provider, model };
    setBusy(true);
    setError(null);
    api
      .createWorkspace(name, spec)
      .then(onCreated)
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="card form" onSubmit={submit} aria-label="create a workspace">
      <div className="fields">
        <label>
          Name
          <input name="workspace-name" value={name} onChange={(e) => setName(e.target.value.trim())} placeholder="my-project" required aria-invalid={!!nameProblem} />
        </label>
        {classes.length > 0 && (
          <label title={chosen?.description}>
            Class
            <select name="workspace-class" value={className} onChange={(e) => setClassName(e.target.value)}>
              {classes.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.displayName} ({c.egress === "Open" ? "open egress" : "restricted egress"})
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Storage size
          <input name="size" value={size} onChange={(e) => setSize(e.target.value.trim())} placeholder={chosen?.maxSize ? `10Gi, at most ${chosen.maxSize}` : "10Gi"} />
        </label>
        <label>
          When deleted
          <select name="reclaim" value={reclaim} onChange={(e) => setReclaim(e.target.value as "Retain" | "Delete")}>
            <option value="Retain">keep the files</option>
            <option value="Delete">delete the files</option>
          </select>
        </label>
        <label>
          Idle timeout
          <input name="idle" value={idle} onChange={(e) => setIdle(e.target.value.trim())} placeholder="30m" />
        </label>
        <label>
          LLM provider
          <input name="provider" value={provider} onChange={(e) => setProvider(e.target.value.trim())} placeholder="operator default" />
        </label>
        <label>
          Model
          <input
            name="model"
            list="class-models"
            value={model}
            onChange={(e) => setModel(e.target.value.trim())}
            placeholder={chosen?.models.length ? chosen.models.join(", ") : "operator default"}
          />
          <datalist id="class-models">
            {chosen?.models.map((m) => <option key={m} value={m} />)}
          </datalist>
        </label>
      </div>
      {nameProblem && <p className="error">Name: {nameProblem}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy || !name || !!nameProblem}>
        {busy ? "Creating…" : "Create workspace"}
      </button>
    </form>
  );
}
