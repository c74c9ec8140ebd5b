import { describe, expect, it } from "vitest";
import type { Session, Workspace } from "../api/rest";
import { mergeHits, parseHits, planSearch, snippetPieces } from "./search";

const ws = (name: string) => ({ metadata: { name }, spec: { owner: "alice" } }) as Workspace;
const session = (name: string, workspace: string, phase: string, active = "", suspended = false) =>
  ({ metadata: { name }, spec: { workspaceRef: { name: workspace }, suspended }, status: { phase, lastActivityAt: active } }) as Session;

describe("history search", () => {
  it("asks one running session per workspace, the latest active, and names the rest", () => {
    const plan = planSearch(
      [ws("web"), ws("api"), ws("idle"), ws("empty")],
      [
        session("web-1", "web", "Running", "2026-12-01T10:00:00Z"),
        session("web-2", "web", "Running", "2026-12-01T11:00:00Z"),
        session("web-3", "web", "Suspended"),
        session("api-1", "api", "Running", "", true),
        session("idle-1", "idle", "Suspended"),
      ],
    );
    expect(plan.targets).toEqual([{ workspace: "web", via: "web-2" }]);
    expect(plan.notSearched).toEqual(["api", "idle"]);
  });

  it("keeps well-formed hits and merges workspaces best first", () => {
    const web = parseHits("web", [
      { session_id: "web-1", message_idx: 3, role: "user", snippet: "the **zeppelin** deploy", created_at: 5, score: 2.5, title: "" },
      { session_id: 7, message_idx: 1 },
      "junk",
    ]);
    expect(web).toHaveLength(1);
    const api = parseHits("api", [{ session_id: "api-1", message_idx: 0, content: "zeppelin", score: 4 }]);
    expect(parseHits("x", { not: "a list" })).toEqual([]);
    const merged = mergeHits([web, api], 10);
    expect(merged.map((h) => `${h.workspace}/${h.session}#${h.messageIdx}`)).toEqual(["api/api-1#0", "web/web-1#3"]);
    expect(merged[0]!.snippet).toBe("zeppelin");
    expect(mergeHits([web, api], 1)).toHaveLength(1);
  });

  it("splits a snippet into plain and highlighted text", () => {
    expect(snippetPieces("the **zeppelin** and **deploy**")).toEqual([
      { text: "the ", marked: false },
      { text: "zeppelin", marked: true },
      { text: " and ", marked: false },
      { text: "deploy", marked: true },
    ]);
    expect(snippetPieces("<img src=x onerror=alert(1)>")).toEqual([{ text: "<img src=x onerror=alert(1)>", marked: false }]);
  });
});
