/** History search across the caller's Workspaces, as pure functions (unit-tested).
 *
 * The protocol's `hstry` `query` with a `query` searches the history of the Workspace whose
 * runner the frame's `session_id` reaches: hstry lives on the Workspace's storage, so one
 * running Session of a Workspace answers for all of its Sessions, suspended ones included. A
 * Workspace with no running Session is not searched (waking one to search is the user's
 * choice): the page names those. */
import type { Session, Workspace } from "../api/rest";

export interface SearchTarget {
  workspace: string;
  /** The running Session whose runner answers for the Workspace. */
  via: string;
}

export interface SearchPlan {
  targets: SearchTarget[];
  /** Workspaces with sessions but none running. */
  notSearched: string[];
}

export function planSearch(workspaces: Workspace[], sessions: Session[]): SearchPlan {
  const targets: SearchTarget[] = [];
  const notSearched: string[] = [];
  for (const w of [...workspaces].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const own = sessions.filter((s) => s.spec.workspaceRef.name === w.metadata.name);
    if (own.length === 0) continue;
    const running = own
      .filter((s) => s.status?.phase === "Running" && !s.spec.suspended)
      .sort((a, b) => (b.status?.lastActivityAt ?? "").localeCompare(a.status?.lastActivityAt ?? ""));
    if (running[0]) targets.push({ workspace: w.metadata.name, via: running[0].metadata.name });
    else notSearched.push(w.metadata.name);
  }
  return { targets, notSearched };
}

/** One hit as the bridge answers it (runner-image/pi-bridge/src/channels/hstry.rs). */
export interface Hit {
  workspace: string;
  session: string;
  messageIdx: number;
  role: string;
  snippet: string;
  createdAt: number;
  score: number;
  title: string;
}

/** The bridge's answer, checked: a malformed hit is dropped, not shown half. */
export function parseHits(workspace: string, data: unknown): Hit[] {
  if (!Array.isArray(data)) return [];
  const hits: Hit[] = [];
  for (const raw of data) {
    if (!raw || typeof raw !== "object") continue;
    const h = raw as Record<string, unknown>;
    if (typeof h.session_id !== "string" || typeof h.message_idx !== "number") continue;
    hits.push({
      workspace,
      session: h.session_id,
      messageIdx: h.message_idx,
      role: typeof h.role === "string" ? h.role : "",
      snippet: typeof h.snippet === "string" ? h.snippet : typeof h.content === "string" ? h.content.slice(0, 200) : "",
      createdAt: typeof h.created_at === "number" ? h.created_at : 0,
      score: typeof h.score === "number" ? h.score : 0,
      title: typeof h.title === "string" ? h.title : "",
    });
  }
  return hits;
}

/** All Workspaces' hits, the best first (bm25 per Workspace; ties: the newest). */
export function mergeHits(lists: Hit[][], limit: number): Hit[] {
  return lists
    .flat()
    .sort((a, b) => b.score - a.score || b.createdAt - a.createdAt)
    .slice(0, limit);
}

/** A snippet's pieces: hstry wraps matched words in `**`; marked pieces are shown highlighted,
 * as text (never as HTML or Markdown: the snippet is the user's and the agent's words). */
export function snippetPieces(snippet: string): { text: string; marked: boolean }[] {
  return snippet
    .split("**")
    .map((text, i) => ({ text, marked: i % 2 === 1 }))
    .filter((p) => p.text !== "");
}
