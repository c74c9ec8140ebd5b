import { describe, expect, it } from "vitest";
import type { Session, Workspace } from "../api/rest";
import { ago, ancestors, filterGroups, flattenSessions, groupSessions, neighbour, nestSessions, sessionTitle, titleFromPrompt, type SessionEntry } from "./sessions";

const ws = (name: string, displayName?: string): Workspace => ({ metadata: { name }, spec: { owner: "alice", ...(displayName ? { displayName } : {}) } }) as Workspace;
const session = (
  name: string,
  workspace: string,
  extra: { title?: string; active?: string; parent?: string; created?: string; phase?: string; suspended?: boolean } = {},
): Session =>
  ({
    metadata: { name, creationTimestamp: extra.created ?? "2026-12-01T10:00:00Z" },
    spec: {
      workspaceRef: { name: workspace },
      displayName: extra.title,
      ...(extra.parent ? { parentSessionRef: { name: extra.parent } } : {}),
      ...(extra.suspended ? { suspended: true } : {}),
    },
    status: extra.phase === "" ? {} : { phase: extra.phase ?? "Running", lastActivityAt: extra.active },
  }) as Session;

/** The tree as `name(child, child)`, to compare at a glance. */
const shape = (sessions: SessionEntry[]): string[] =>
  sessions.map((s) => (s.children.length ? `${s.name}(${shape(s.children).join(", ")})` : s.name));

describe("the sidebar's sessions", () => {
  const groups = groupSessions(
    [ws("web", "Web app"), ws("api"), ws("empty")],
    [
      session("web-1", "web", { title: "Fix the build", active: "2026-12-01T12:00:00Z" }),
      session("web-2", "web", { active: "2026-12-01T13:00:00Z" }),
      session("api-1", "api", { title: "Rate limits" }),
      session("stray", "gone"),
    ],
  );

  it("groups sessions under their workspaces, the latest active first, titles before names", () => {
    expect(groups.map((g) => g.name)).toEqual(["api", "empty", "web"]);
    expect(groups[2]!.title).toBe("Web app");
    expect(groups[2]!.sessions.map((s) => s.title)).toEqual(["web-2", "Fix the build"]);
    expect(groups[1]!.sessions).toEqual([]);
    expect(groups.flatMap((g) => g.sessions).some((s) => s.name === "stray")).toBe(false);
  });

  it("filters by every word typed, in titles, names and workspaces", () => {
    expect(filterGroups(groups, "fix BUILD").flatMap((g) => g.sessions.map((s) => s.name))).toEqual(["web-1"]);
    expect(filterGroups(groups, "fix nothing")).toEqual([]);
    expect(filterGroups(groups, "web app").find((g) => g.name === "web")!.sessions).toHaveLength(2);
    expect(filterGroups(groups, "  ")).toBe(groups);
  });

  it("walks the sessions in the sidebar's order, wrapping around", () => {
    const current = { workspace: "web", name: "web-1" };
    expect(neighbour(groups, current, 1)!.name).toBe("api-1");
    expect(neighbour(groups, current, -1)!.name).toBe("web-2");
    expect(neighbour(groups, null, 1)!.name).toBe("api-1");
    expect(neighbour(groups, null, -1)!.name).toBe("web-1");
    expect(neighbour([], null, 1)).toBeNull();
  });

  it("takes a title from a first prompt: one clean line, cut at a word", () => {
    expect(titleFromPrompt("  fix the\tbuild\nthen run the tests")).toBe("fix the build");
    expect(titleFromPrompt("bell\u0007 here")).toBe("bell here");
    const long = "please refactor the session lifecycle so that suspended runners wake on demand";
    const title = titleFromPrompt(long);
    expect(title.endsWith("…")).toBe(true);
    expect(title.length).toBeLessThanOrEqual(61);
    expect(long.startsWith(title.slice(0, -1))).toBe(true);
    expect(sessionTitle(session("s", "w", { title: "  " }))).toBe("s");
  });

  it("says how long ago in a few characters", () => {
    const now = Date.parse("2026-12-02T00:00:00Z");
    expect(ago(null, now)).toBe("");
    expect(ago(now - 30_000, now)).toBe("now");
    expect(ago(now - 5 * 60_000, now)).toBe("5 min");
    expect(ago(now - 3 * 3_600_000, now)).toBe("3 h");
    expect(ago(now - 3 * 86_400_000, now)).toBe("3 d");
  });
});

describe("sub-sessions in the sidebar", () => {
  const at = (hour: number) => `2026-12-01T${String(hour).padStart(2, "0")}:00:00Z`;
  const groups = groupSessions(
    [ws("web"), ws("api")],
    [
      session("lead", "web", { title: "Plan the release", active: at(12) }),
      // Children: the oldest started first, however recently they worked.
      session("lead-b", "web", { title: "Write the notes", parent: "lead", created: at(11), active: at(14) }),
      session("lead-a", "web", { title: "Check the tests", parent: "lead", created: at(10), active: at(13), phase: "Failed" }),
      session("solo", "web", { active: at(13) }),
      // Its parent was deleted: at the top, still marked as a sub-session.
      session("orphan", "web", { parent: "deleted", active: at(9), phase: "", suspended: true }),
      // A parent in another workspace is not "here".
      session("elsewhere", "api", { parent: "lead", active: at(8) }),
    ],
  );
  const web = groups.find((g) => g.name === "web")!;

  it("lists sub-sessions under their parent, with their own status, the rest by activity", () => {
    expect(shape(web.sessions)).toEqual(["solo", "lead(lead-a, lead-b)", "orphan"]);
    const lead = web.sessions.find((s) => s.name === "lead")!;
    expect(lead.children.map((c) => [c.title, c.phase, c.parent])).toEqual([
      ["Check the tests", "Failed", "lead"],
      ["Write the notes", "Running", "lead"],
    ]);
    expect(lead.parent).toBeUndefined();
    const orphan = web.sessions.find((s) => s.name === "orphan")!;
    expect([orphan.parent, orphan.phase, orphan.children]).toEqual(["deleted", "Suspended", []]);
    expect(shape(groups.find((g) => g.name === "api")!.sessions)).toEqual(["elsewhere"]);
  });

  it("knows which parents a sub-session is under", () => {
    expect(ancestors(groups, "web", "lead-b")).toEqual(["lead"]);
    expect(ancestors(groups, "web", "lead")).toEqual([]);
    expect(ancestors(groups, "web", "orphan")).toEqual([]);
    expect(ancestors(groups, "api", "lead-b")).toEqual([]);
  });

  it("walks parents then their sub-sessions with the keyboard", () => {
    expect(flattenSessions(web.sessions).map((s) => s.name)).toEqual(["solo", "lead", "lead-a", "lead-b", "orphan"]);
    expect(neighbour(groups, { workspace: "web", name: "lead-a" }, 1)!.name).toBe("lead-b");
    expect(neighbour(groups, { workspace: "web", name: "lead" }, -1)!.name).toBe("solo");
  });

  it("shows a matching sub-session at the top when its parent does not match", () => {
    const notes = filterGroups(groups, "notes").find((g) => g.name === "web")!;
    expect(shape(notes.sessions)).toEqual(["lead-b"]);
    expect(shape(filterGroups(groups, "lead").find((g) => g.name === "web")!.sessions)).toEqual(["lead(lead-a, lead-b)"]);
    // The workspace's own name keeps the tree as it was.
    expect(filterGroups(groups, "web").find((g) => g.name === "web")).toBe(web);
  });

  it("nests deeper levels and survives a cycle of parents", () => {
    const e = (name: string, parent?: string, active = 0): SessionEntry => ({
      workspace: "w",
      name,
      title: name,
      phase: "Running",
      activeAt: active,
      createdAt: active,
      ...(parent ? { parent } : {}),
      children: [],
    });
    expect(shape(nestSessions([e("c", "b"), e("b", "a"), e("a")]))).toEqual(["a(b(c))"]);
    const cycle = nestSessions([e("x", "y", 1), e("y", "x", 2), e("z", "z", 3)]);
    expect(shape(cycle)).toEqual(["z", "y(x)"]);
    expect(flattenSessions(cycle)).toHaveLength(3);
    // Taken apart and nested again, the tree is the same (what the filter does).
    expect(shape(nestSessions(flattenSessions(nestSessions([e("c", "b"), e("b", "a"), e("a")]))))).toEqual(["a(b(c))"]);
  });
});
