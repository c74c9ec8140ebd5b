import { forwardRef, useEffect, useMemo, useState } from "react";
import { api } from "../api/rest";
import { navigate, type Route } from "../ui/router";
import { usePoll } from "../ui/usePoll";
import { onSessionsChanged, sessionsChanged } from "./events";
import { ago, filterGroups, groupSessions, type WorkspaceGroup } from "./sessions";

/** The user's Workspaces and their Sessions, at hand from every page: title, phase, last
 * activity; a new session in one click; a filter box. */
export const Sidebar = forwardRef<HTMLInputElement, { route: Route; onGroups: (groups: WorkspaceGroup[]) => void; onPicked: () => void }>(
  function Sidebar({ route, onGroups, onPicked }, searchRef) {
    const { data, error, refresh } = usePoll(() => Promise.all([api.workspaces(), api.allSessions()]), 5000);
    useEffect(() => onSessionsChanged(refresh), [refresh]);
    const groups = useMemo(() => (data ? groupSessions(data[0], data[1]) : []), [data]);
    useEffect(() => onGroups(groups), [groups, onGroups]);
    const [query, setQuery] = useState("");
    const shown = filterGroups(groups, query);
    const [creating, setCreating] = useState<string | null>(null);
    const [createError, setCreateError] = useState<string | null>(null);
    const now = Date.now();
    const current = route.page === "session" ? route : null;

    const create = (workspace: string) => {
      setCreating(workspace);
      setCreateError(null);
      newSession(workspace)
        .then(onPicked)
        .catch((e: unknown) => setCreateError(`${workspace}: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => setCreating(null));
    };

    return (
      <nav className="sidebar" aria-label="sessions">
        <input
          ref={searchRef}
          type="search"
          className="sidebar-search"
          placeholder="Find a session (Ctrl K)"
          aria-label="find a session"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") setQuery("");
            if (e.key === "Enter" && query.trim()) {
              // A session whose title matches opens; otherwise the words are looked for in the
              // chats themselves.
              const first = shown.flatMap((g) => g.sessions)[0];
              if (first) navigate({ page: "session", workspace: first.workspace, session: first.name, tab: "chat" });
              else {
                navigate({ page: "search", query: query.trim() });
                setQuery("");
              }
              onPicked();
            }
          }}
        />
        {query.trim() && (
          <button
            type="button"
            className="ghost sidebar-history"
            onClick={() => {
              navigate({ page: "search", query: query.trim() });
              setQuery("");
              onPicked();
            }}
          >
            Search the chats for “{query.trim()}”
          </button>
        )}
        {error && <p className="error small" role="alert">Could not load the sessions: {error}</p>}
        {createError && <p className="error small" role="alert">A new session failed: {createError}</p>}
        {data && groups.length === 0 && <p className="muted small">No workspaces yet.</p>}
        {data && groups.length > 0 && shown.length === 0 && <p className="muted small">Nothing matches “{query}”.</p>}
        {shown.map((group) => (
          <section key={group.name} className="sidebar-group" aria-label={`workspace ${group.name}`}>
            <div className="sidebar-workspace">
              <a
                href={`/w/${encodeURIComponent(group.name)}`}
                className={route.page === "workspace" && route.workspace === group.name ? "active" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate({ page: "workspace", workspace: group.name });
                  onPicked();
                }}
              >
                {group.title}
              </a>
              <button
                type="button"
                className="ghost icon"
                aria-label={`new session in ${group.name}`}
                title="New session"
                disabled={creating !== null}
                onClick={() => create(group.name)}
              >
                {creating === group.name ? "…" : "+"}
              </button>
            </div>
            <ul className="sidebar-sessions">
              {group.sessions.map((s) => {
                const active = current?.workspace === s.workspace && current.session === s.name;
                return (
                  <li key={s.name}>
                    <a
                      href={`/w/${encodeURIComponent(s.workspace)}/s/${encodeURIComponent(s.name)}`}
                      className={active ? "sidebar-session active" : "sidebar-session"}
                      aria-current={active ? "page" : undefined}
                      data-testid="sidebar-session"
                      title={s.title === s.name ? s.name : `${s.title} (${s.name})`}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate({ page: "session", workspace: s.workspace, session: s.name, tab: "chat" });
                        onPicked();
                      }}
                    >
                      <span className={`dot phase-${s.phase.toLowerCase()}`} aria-label={s.phase} role="img" />
                      <span className="sidebar-title">{s.title}</span>
                      <span className="sidebar-ago">{ago(s.activeAt, now)}</span>
                    </a>
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
      </nav>
    );
  },
);

/** Creates a session in `workspace` and opens it. */
export async function newSession(workspace: string): Promise<void> {
  const session = await api.createSession(workspace);
  sessionsChanged();
  navigate({ page: "session", workspace, session: session.metadata.name, tab: "chat" });
}
