import { forwardRef, useEffect, useId, useMemo, useState } from "react";
import { api } from "../api/rest";
import { navigate, type Route } from "../ui/router";
import { usePoll } from "../ui/usePoll";
import { onSessionsChanged, sessionsChanged } from "./events";
import { ago, ancestors, filterGroups, flattenSessions, groupSessions, type SessionEntry, type WorkspaceGroup } from "./sessions";

/** The user's Workspaces and their Sessions, at hand from every page: title, phase, last
 * activity, sub-agents' sessions under the session that started them (folding away); a new
 * session in one click; a filter box. */
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
    // Parents whose sub-sessions are folded away, as `workspace/name`.
    const [folded, setFolded] = useState<ReadonlySet<string>>(() => new Set());
    const toggle = (key: string) =>
      setFolded((before) => {
        const next = new Set(before);
        if (!next.delete(key)) next.add(key);
        return next;
      });
    // Opening a sub-session (from a sub-agent card, the keyboard…) unfolds its parents.
    const currentKey = current ? `${current.workspace}/${current.session}` : "";
    useEffect(() => {
      if (!current) return;
      const parents = ancestors(groups, current.workspace, current.session).map((p) => `${current.workspace}/${p}`);
      setFolded((before) => {
        if (!parents.some((k) => before.has(k))) return before;
        const next = new Set(before);
        parents.forEach((k) => next.delete(k));
        return next;
      });
      // Only when another session opens: a parent folded while its sub-session shows stays so.
    }, [currentKey]);
    const open = (s: SessionEntry) => {
      navigate({ page: "session", workspace: s.workspace, session: s.name, tab: "chat" });
      onPicked();
    };

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
              const first = shown.flatMap((g) => flattenSessions(g.sessions))[0];
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
              {group.sessions.map((s) => (
                <SessionItem
                  key={s.name}
                  session={s}
                  current={current}
                  now={now}
                  // While a filter is typed, what matches shows, folded or not.
                  isOpen={(e) => query.trim() !== "" || !folded.has(`${e.workspace}/${e.name}`)}
                  onToggle={(e) => toggle(`${e.workspace}/${e.name}`)}
                  onOpen={open}
                />
              ))}
            </ul>
          </section>
        ))}
      </nav>
    );
  },
);

/** One session of the sidebar and, below it, the sub-sessions its agent started (indented,
 * marked "sub-agent"), which a button with their count folds away. */
function SessionItem({
  session: s,
  current,
  now,
  isOpen,
  onToggle,
  onOpen,
}: {
  session: SessionEntry;
  current: { workspace: string; session: string } | null;
  now: number;
  isOpen: (s: SessionEntry) => boolean;
  onToggle: (s: SessionEntry) => void;
  onOpen: (s: SessionEntry) => void;
}) {
  const listId = useId();
  const active = current?.workspace === s.workspace && current.session === s.name;
  const count = s.children.length;
  const open = count > 0 && isOpen(s);
  const named = s.title === s.name ? s.name : `${s.title} (${s.name})`;
  return (
    <li className={s.parent ? "sidebar-sub-item" : undefined}>
      <div className="sidebar-row">
        <a
          href={`/w/${encodeURIComponent(s.workspace)}/s/${encodeURIComponent(s.name)}`}
          className={active ? "sidebar-session active" : "sidebar-session"}
          aria-current={active ? "page" : undefined}
          data-testid="sidebar-session"
          title={s.parent ? `${named}, sub-agent of ${s.parent}` : named}
          onClick={(e) => {
            e.preventDefault();
            onOpen(s);
          }}
        >
          <span className={`dot phase-${s.phase.toLowerCase()}`} aria-label={s.phase} role="img" />
          <span className="sidebar-title">{s.title}</span>
          {s.parent && <span className="sidebar-sub">sub-agent</span>}
          <span className="sidebar-ago">{ago(s.activeAt, now)}</span>
        </a>
        {count > 0 && (
          <button
            type="button"
            className="ghost sidebar-fold"
            aria-expanded={open}
            aria-controls={listId}
            aria-label={`${open ? "hide" : "show"} the ${count} sub-agent session${count === 1 ? "" : "s"} of ${s.title}`}
            title={`${count} sub-agent session${count === 1 ? "" : "s"}`}
            onClick={() => onToggle(s)}
          >
            <span aria-hidden="true">{open ? "▾" : "▸"}</span>
            {count}
          </button>
        )}
      </div>
      {count > 0 && (
        <ul id={listId} className="sidebar-sessions sidebar-children" aria-label={`sub-agents of ${s.title}`} hidden={!open}>
          {s.children.map((c) => (
            <SessionItem key={c.name} session={c} current={current} now={now} isOpen={isOpen} onToggle={onToggle} onOpen={onOpen} />
          ))}
        </ul>
      )}
    </li>
  );
}

/** Creates a session in `workspace` and opens it. */
export async function newSession(workspace: string): Promise<void> {
  const session = await api.createSession(workspace);
  sessionsChanged();
  navigate({ page: "session", workspace, session: session.metadata.name, tab: "chat" });
}
