import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, type User } from "./api/rest";
import { MuxProvider } from "./mux/context";
import { ConnectionBadge } from "./ui/ConnectionBadge";
import { LoginPage } from "./ui/LoginPage";
import { navigate, useRoute } from "./ui/router";
import { applyTheme, nextTheme, storedTheme } from "./ui/theme";
import { WorkspacesPage } from "./workspaces/WorkspacesPage";
import { WorkspacePage } from "./workspaces/WorkspacePage";
import { SessionPage } from "./session/SessionPage";
import { UsagePage } from "./usage/UsagePage";
import { AccountPage } from "./account/AccountPage";
import { AdminPage } from "./admin/AdminPage";
import { HelpDialog } from "./sidebar/HelpDialog";
import { SearchPage } from "./search/SearchPage";
import { Sidebar, newSession } from "./sidebar/Sidebar";
import { neighbour, type WorkspaceGroup } from "./sidebar/sessions";
import { isTyping, shortcutFor } from "./sidebar/shortcuts";

export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  const check = useCallback(() => {
    api
      .me()
      .then((me) => {
        setUser(me);
        setError(null);
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 401) setUser(null);
        else {
          setError(e instanceof Error ? e.message : String(e));
          setTimeout(check, 2000);
        }
      });
  }, []);
  useEffect(check, [check]);

  if (user === undefined) {
    return <main className="centered">{error ? <p className="error">{error}: retrying…</p> : <p>Loading…</p>}</main>;
  }
  if (user === null) return <LoginPage onLogin={setUser} />;
  return (
    <MuxProvider>
      <Shell user={user} onLogout={() => setUser(null)} />
    </MuxProvider>
  );
}

function Shell({ user, onLogout }: { user: User; onLogout: () => void }) {
  const route = useRoute();
  const [theme, setTheme] = useState(storedTheme);
  const logout = () => {
    api.logout().finally(onLogout);
  };
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [help, setHelp] = useState(false);
  const search = useRef<HTMLInputElement>(null);
  const groups = useRef<WorkspaceGroup[]>([]);
  const onGroups = useCallback((g: WorkspaceGroup[]) => {
    groups.current = g;
  }, []);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const action = shortcutFor(event, isTyping(event.target));
      if (!action) return;
      event.preventDefault();
      const current = route.page === "session" ? { workspace: route.workspace, name: route.session } : null;
      switch (action) {
        case "search":
          setSidebarOpen(true);
          // After the render that shows it (a hidden field takes no focus).
          requestAnimationFrame(() => {
            search.current?.focus();
            search.current?.select();
          });
          break;
        case "help":
          setHelp(true);
          break;
        case "new-session": {
          const workspace = route.page === "session" || route.page === "workspace" ? route.workspace : groups.current[0]?.name;
          if (workspace) newSession(workspace).catch(() => navigate({ page: "workspace", workspace }));
          break;
        }
        case "next-session":
        case "previous-session": {
          const next = neighbour(groups.current, current, action === "next-session" ? 1 : -1);
          if (next) navigate({ page: "session", workspace: next.workspace, session: next.name, tab: route.page === "session" ? route.tab : "chat" });
          break;
        }
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [route]);
  return (
    <div className="app">
      <header className="topbar">
        <button
          type="button"
          className="ghost icon sidebar-toggle"
          aria-label={sidebarOpen ? "hide the sessions" : "show the sessions"}
          aria-expanded={sidebarOpen}
          onClick={() => setSidebarOpen(!sidebarOpen)}
        >
          ☰
        </button>
        <a
          className="brand"
          href="/"
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "workspaces" });
          }}
        >
          Oqto
        </a>
        <ConnectionBadge />
        <span className="spacer" />
        <a
          href="/usage"
          className={route.page === "usage" ? "nav active" : "nav"}
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "usage" });
          }}
        >
          Usage
        </a>
        {user.role === "admin" && (
          <a
            href="/admin"
            className={route.page === "admin" ? "nav active" : "nav"}
            onClick={(e) => {
              e.preventDefault();
              navigate({ page: "admin" });
            }}
          >
            Admin
          </a>
        )}
        <button
          type="button"
          className="ghost"
          aria-label={`theme: ${theme} (change)`}
          onClick={() => {
            const next = nextTheme(theme);
            applyTheme(next);
            setTheme(next);
          }}
        >
          {theme === "dark" ? "☾" : theme === "light" ? "☀" : "◐"}
        </button>
        <a
          href="/account"
          className={route.page === "account" ? "nav user active" : "nav user"}
          title={`${user.role}: your account`}
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "account" });
          }}
        >
          {user.username}
        </a>
        <button type="button" className="ghost icon" aria-label="keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setHelp(true)}>
          ?
        </button>
        <button type="button" className="ghost" onClick={logout}>
          Log out
        </button>
      </header>
      <HelpDialog open={help} onClose={() => setHelp(false)} />
      <div className={sidebarOpen ? "layout sidebar-open" : "layout"}>
        <Sidebar ref={search} route={route} onGroups={onGroups} onPicked={() => setSidebarOpen(false)} />
        <div className="main">
      {route.page === "workspaces" && <WorkspacesPage />}
      {route.page === "usage" && <UsagePage user={user} />}
      {route.page === "search" && <SearchPage query={route.query} />}
      {route.page === "account" && <AccountPage user={user} />}
      {route.page === "admin" && <AdminPage user={user} />}
      {route.page === "workspace" && <WorkspacePage workspace={route.workspace} />}
      {route.page === "session" && (
        <SessionPage key={`${route.workspace}/${route.session}`} workspace={route.workspace} session={route.session} tab={route.tab} message={route.message} />
      )}
        </div>
      </div>
    </div>
  );
}
