/** The few routes of the UI, in the URL so reload and links work (the gateway serves index.html
 * for every path that is not a file or /api). */
import { useEffect, useState } from "react";

export type Route =
  | { page: "workspaces" }
  | { page: "usage" }
  | { page: "account" }
  | { page: "admin" }
  | { page: "search"; query: string }
  | { page: "workspace"; workspace: string }
  | { page: "session"; workspace: string; session: string; tab: "chat" | "files" | "terminal" | "browser"; message?: number };

export function parseRoute(path: string, search = ""): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  if (parts[0] === "search" && parts.length === 1) return { page: "search", query: params.get("q") ?? "" };
  if (parts[0] === "usage" && parts.length === 1) return { page: "usage" };
  if (parts[0] === "account" && parts.length === 1) return { page: "account" };
  if (parts[0] === "admin" && parts.length === 1) return { page: "admin" };
  if (parts[0] === "w" && parts[1]) {
    if (parts[2] === "s" && parts[3]) {
      const tab = parts[4] === "files" || parts[4] === "terminal" || parts[4] === "browser" ? parts[4] : "chat";
      // ?m=<index>: a search result opens the chat at that message.
      const message = Number(params.get("m"));
      return params.has("m") && Number.isInteger(message) && message >= 0
        ? { page: "session", workspace: parts[1], session: parts[3], tab, message }
        : { page: "session", workspace: parts[1], session: parts[3], tab };
    }
    return { page: "workspace", workspace: parts[1] };
  }
  return { page: "workspaces" };
}

export function routePath(route: Route): string {
  const e = encodeURIComponent;
  switch (route.page) {
    case "workspaces":
      return "/";
    case "usage":
      return "/usage";
    case "account":
      return "/account";
    case "admin":
      return "/admin";
    case "search":
      return `/search?q=${e(route.query)}`;
    case "workspace":
      return `/w/${e(route.workspace)}`;
    case "session":
      return `/w/${e(route.workspace)}/s/${e(route.session)}${route.tab === "chat" ? "" : `/${route.tab}`}${route.message === undefined ? "" : `?m=${route.message}`}`;
  }
}

export function navigate(route: Route): void {
  const path = routePath(route);
  if (path !== location.pathname + location.search) history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname, location.search));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname, location.search));
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}
