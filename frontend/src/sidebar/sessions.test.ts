import { describe, expect, it } from "vitest";
import type { Session, Workspace } from "../api/rest";
import { ago, filterGroups, groupSessions, neighbour, sessionTitle, titleFromPrompt } from "./sessions";

const ws = (name: string, displayName?: string): Workspace => ({ metadata: { name }, spec: { owner: "alice", ...(displayName ? { displayName } : {}) } }) as Workspace;
const session = (name: string, workspace: string, extra: { title?: string; active?: string } = {}): Session =>
  ({
    metadata: { name, creationTimestamp: "2026-12-01T10:00:00Z" },
    spec: { workspaceRef: { name: workspace }, displayName: extra.title },
    status: { phase: "Running", lastActivityAt: extra.active },
  }) as Session;

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
