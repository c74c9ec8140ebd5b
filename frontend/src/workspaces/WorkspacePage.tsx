import { useState } from "react";
import { api, type Session } from "../api/rest";
import { ConfirmButton } from "../ui/ConfirmButton";
import { PhaseBadge } from "../ui/Phase";
import { navigate } from "../ui/router";
import { usePoll } from "../ui/usePoll";
import { shownReason } from "./reasons";
import { sessionsChanged } from "../sidebar/events";
import { sessionTitle } from "../sidebar/sessions";
import { SchedulesPanel } from "../schedules/SchedulesPanel";

/** A workspace's sessions: status, create, suspend, resume, delete; then its schedules. */
export function WorkspacePage({ workspace }: { workspace: string }) {
  const { data, error, refresh } = usePoll(() => api.sessions(workspace), 2000);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = (what: string, action: Promise<unknown>) => {
    setActionError(null);
    action
      .then(() => {
        refresh();
        sessionsChanged();
      })
      .catch((e: unknown) => setActionError(`${what} failed: ${e instanceof Error ? e.message : String(e)}`));
  };
  const create = () => {
    setBusy(true);
    setActionError(null);
    api
      .createSession(workspace)
      .then((s) => {
        sessionsChanged();
        navigate({ page: "session", workspace, session: s.metadata.name, tab: "chat" });
      })
      .catch((e: unknown) => setActionError(`Creating a session failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => setBusy(false));
  };
  const open = (s: Session) => navigate({ page: "session", workspace, session: s.metadata.name, tab: "chat" });
  return (
    <main className="page">
      <nav className="crumbs" aria-label="breadcrumb">
        <a
          href="/"
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "workspaces" });
          }}
        >
          Workspaces
        </a>{" "}
        / <span aria-current="page">{workspace}</span>
      </nav>
      <div className="row">
        <h1>Sessions</h1>
        <span className="spacer" />
        <button type="button" onClick={create} disabled={busy}>
          {busy ? "Creating…" : "New session"}
        </button>
      </div>
      {error && <p className="error" role="alert">Could not load the sessions: {error}</p>}
      {actionError && <p className="error" role="alert">{actionError}</p>}
      {data && data.length === 0 && <p className="muted">No sessions yet.</p>}
      <ul className="list" aria-label="sessions">
        {data?.map((s) => {
          const ready = s.status?.conditions?.find((c) => c.type === "Ready");
          return (
            <li key={s.metadata.name} className="item">
              <a
                href={`/w/${encodeURIComponent(workspace)}/s/${encodeURIComponent(s.metadata.name)}`}
                onClick={(e) => {
                  e.preventDefault();
                  open(s);
                }}
              >
                {sessionTitle(s)}
              </a>
              <PhaseBadge phase={s.status?.phase} message={ready?.message} />
              {shownReason(s.status?.phase, ready?.reason) && ready?.message && (
                <span className="error small" role="status">
                  {ready.message}
                </span>
              )}
              <span className="spacer" />
              {s.spec.suspended ? (
                <button type="button" className="ghost" onClick={() => act("Resuming", api.resumeSession(workspace, s.metadata.name))}>
                  Resume
                </button>
              ) : (
                <button type="button" className="ghost" onClick={() => act("Suspending", api.suspendSession(workspace, s.metadata.name))}>
                  Suspend
                </button>
              )}
              <ConfirmButton
                label="Delete"
                question={`Delete session ${sessionTitle(s)}? Its runner stops; the workspace's files stay.`}
                confirmLabel="Delete session"
                onConfirm={() => act("Deleting", api.deleteSession(workspace, s.metadata.name))}
              />
            </li>
          );
        })}
      </ul>
      <SchedulesPanel key={workspace} workspace={workspace} sessions={data} />
    </main>
  );
}
