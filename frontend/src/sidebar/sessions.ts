/** What the sidebar shows of the caller's Workspaces and Sessions, as pure functions: titles,
 * grouping, sub-sessions under their parent, the filter, the order that keyboard switching
 * walks, and "how long ago". */
import type { Session, Workspace } from "../api/rest";

export interface SessionEntry {
  workspace: string;
  name: string;
  title: string;
  phase: string;
  /** Unix ms of the last activity known (the operator's, else start, else creation). */
  activeAt: number | null;
  /** Unix ms of creation. */
  createdAt: number | null;
  /** The Session that started this one (`spec.parentSessionRef`): a sub-agent's. */
  parent?: string;
  /** The sub-sessions listed under this one, the oldest first (see `nestSessions`). */
  children: SessionEntry[];
}

export interface WorkspaceGroup {
  name: string;
  title: string;
  sessions: SessionEntry[];
}

const time = (value?: string): number | null => {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
};

export function sessionTitle(session: Session): string {
  return session.spec.displayName?.trim() || session.metadata.name;
}

export function entry(session: Session): SessionEntry {
  const parent = session.spec.parentSessionRef?.name;
  return {
    workspace: session.spec.workspaceRef.name,
    name: session.metadata.name,
    title: sessionTitle(session),
    phase: session.spec.suspended && !session.status?.phase ? "Suspended" : (session.status?.phase ?? "Pending"),
    activeAt: time(session.status?.lastActivityAt) ?? time(session.status?.startedAt) ?? time(session.metadata.creationTimestamp),
    createdAt: time(session.metadata.creationTimestamp),
    ...(parent ? { parent } : {}),
    children: [],
  };
}

const byActivity = (a: SessionEntry, b: SessionEntry) => (b.activeAt ?? 0) - (a.activeAt ?? 0) || a.name.localeCompare(b.name);
const byCreation = (a: SessionEntry, b: SessionEntry) => (a.createdAt ?? 0) - (b.createdAt ?? 0) || a.name.localeCompare(b.name);

/** One workspace's sessions (any order; what `children` they carry is ignored) as the sidebar lists
 * them: each sub-session under its parent, the oldest started first (they keep their place
 * while they work), the rest at the top, the most recently active first. A sub-session whose
 * parent is not among them (deleted, or filtered out) is at the top itself; so is one of a
 * cycle of parents, which the API should never let happen. */
export function nestSessions(sessions: SessionEntry[]): SessionEntry[] {
  const all = sessions.map((s): SessionEntry => ({ ...s, children: [] }));
  const names = new Set(all.map((s) => s.name));
  const childrenOf = new Map<string, SessionEntry[]>();
  const top: SessionEntry[] = [];
  for (const s of all) {
    if (s.parent && s.parent !== s.name && names.has(s.parent)) {
      const siblings = childrenOf.get(s.parent);
      if (siblings) siblings.push(s);
      else childrenOf.set(s.parent, [s]);
    } else top.push(s);
  }
  const placed = new Set<string>();
  const place = (s: SessionEntry) => {
    placed.add(s.name);
    s.children = (childrenOf.get(s.name) ?? []).filter((c) => !placed.has(c.name)).sort(byCreation);
    s.children.forEach(place);
  };
  top.sort(byActivity).forEach(place);
  // Only sessions whose parents form a cycle are left: the most recent of each goes on top.
  for (const s of all.slice().sort(byActivity)) {
    if (placed.has(s.name)) continue;
    top.push(s);
    place(s);
  }
  return top.sort(byActivity);
}

/** The sessions in the sidebar's order: each followed by its sub-sessions. */
export function flattenSessions(sessions: SessionEntry[]): SessionEntry[] {
  return sessions.flatMap((s) => [s, ...flattenSessions(s.children)]);
}

/** Workspaces by name, each with its sessions, the most recently active first, sub-sessions
 * under their parents (`nestSessions`). A workspace without sessions is listed too (its "+"
 * starts the first). */
export function groupSessions(workspaces: Workspace[], sessions: Session[]): WorkspaceGroup[] {
  const groups = new Map<string, WorkspaceGroup>();
  for (const w of workspaces) {
    const title = (w.spec as { displayName?: string }).displayName?.trim() || w.metadata.name;
    groups.set(w.metadata.name, { name: w.metadata.name, title, sessions: [] });
  }
  for (const s of sessions) groups.get(s.spec.workspaceRef.name)?.sessions.push(entry(s));
  for (const group of groups.values()) group.sessions = nestSessions(group.sessions);
  return [...groups.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The groups with only the sessions whose title, name or workspace contains every word typed
 * (case-insensitive); a workspace matching by name keeps all its sessions. A sub-session that
 * matches stays under its parent when that matches too, else it is listed at the top. */
export function filterGroups(groups: WorkspaceGroup[], query: string): WorkspaceGroup[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return groups;
  const matches = (text: string) => words.every((w) => text.toLowerCase().includes(w));
  return groups
    .map((g) =>
      matches(`${g.name} ${g.title}`)
        ? g
        : { ...g, sessions: nestSessions(flattenSessions(g.sessions).filter((s) => matches(`${s.title} ${s.name}`))) },
    )
    .filter((g) => g.sessions.length > 0 || matches(`${g.name} ${g.title}`));
}

/** The sessions `name` is nested under in the sidebar, its parent first. */
export function ancestors(groups: WorkspaceGroup[], workspace: string, name: string): string[] {
  const path = (sessions: SessionEntry[]): string[] | null => {
    for (const s of sessions) {
      if (s.name === name) return [];
      const below = path(s.children);
      if (below) return [...below, s.name];
    }
    return null;
  };
  return path(groups.find((g) => g.name === workspace)?.sessions ?? []) ?? [];
}

/** The session `step` places before (-1) or after (+1) the current one in the sidebar's order
 * (sub-sessions after their parent, folded or not), wrapping around; the first (or last) when
 * none is current. */
export function neighbour(groups: WorkspaceGroup[], current: { workspace: string; name: string } | null, step: 1 | -1): SessionEntry | null {
  const all = groups.flatMap((g) => flattenSessions(g.sessions));
  if (all.length === 0) return null;
  const index = current ? all.findIndex((s) => s.workspace === current.workspace && s.name === current.name) : -1;
  if (index < 0) return step === 1 ? all[0]! : all[all.length - 1]!;
  return all[(index + step + all.length) % all.length]!;
}

/** "now", "5 min", "3 h", "2 d" ago; empty when unknown. */
export function ago(ms: number | null, now: number): string {
  if (ms === null) return "";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return "now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** The title a session gets from its first prompt: the first line, at most 60 characters, cut
 * at a word where one is near. */
export function titleFromPrompt(prompt: string): string {
  const line = prompt.trim().split("\n")[0]!.replace(/\s+/g, " ").trim();
  // Control characters are refused by the gateway; a prompt may carry any.
  const clean = [...line].filter((c) => c >= " " && c !== "\u007f").join("");
  if (clean.length <= 60) return clean;
  const cut = clean.slice(0, 60);
  const space = cut.lastIndexOf(" ");
  return `${(space > 40 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
