import { describe, expect, it } from "vitest";
import { parseRoute, routePath, type Route } from "./router";

describe("routes", () => {
  it("round-trip through the URL, names with odd characters included", () => {
    const routes: Route[] = [
      { page: "workspaces" },
      { page: "usage" },
      { page: "account" },
      { page: "admin" },
      { page: "workspace", workspace: "dev" },
      { page: "session", workspace: "dev", session: "dev-x1", tab: "chat" },
      { page: "session", workspace: "a.b", session: "s", tab: "terminal" },
      { page: "session", workspace: "w", session: "s", tab: "files" },
      { page: "session", workspace: "w", session: "s", tab: "browser" },
    ];
    routes.push({ page: "search", query: "zeppelin & co/?" }, { page: "session", workspace: "w", session: "s", tab: "chat", message: 12 });
    for (const route of routes) {
      const [path, search] = routePath(route).split("?");
      expect(parseRoute(path!, search ? `?${search}` : "")).toEqual(route);
    }
  });

  it("sends unknown paths to the workspace list", () => {
    expect(parseRoute("/nope/x")).toEqual({ page: "workspaces" });
    expect(parseRoute("/usage/x")).toEqual({ page: "workspaces" });
    expect(parseRoute("/w/a/s/b", "?m=-1")).toEqual({ page: "session", workspace: "a", session: "b", tab: "chat" });
    expect(parseRoute("/w/a/s/b", "?m=x")).toEqual({ page: "session", workspace: "a", session: "b", tab: "chat" });
  });
});
