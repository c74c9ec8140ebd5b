import { useCallback, useEffect, useState } from "react";
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
  return (
    <div className="app">
      <header className="topbar">
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
        <button type="button" className="ghost" onClick={logout}>
          Log out
        </button>
      </header>
      {route.page === "workspaces" && <WorkspacesPage />}
      {route.page === "usage" && <UsagePage user={user} />}
      {route.page === "account" && <AccountPage user={user} />}
      {route.page === "admin" && <AdminPage user={user} />}
      {route.page === "workspace" && <WorkspacePage workspace={route.workspace} />}
      {route.page === "session" && (
        <SessionPage key={`${route.workspace}/${route.session}`} workspace={route.workspace} session={route.session} tab={route.tab} />
      )}
    </div>
  );
}
