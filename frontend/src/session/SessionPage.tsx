import { useEffect, useState } from "react";
import { api, ApiError } from "../api/rest";
import { sessionTitle } from "../sidebar/sessions";
import { navigate } from "../ui/router";
import { ChatView } from "../chat/ChatView";
import { FilesView } from "../files/FilesView";
import { TerminalView } from "../terminal/TerminalView";
import { BrowserView } from "../browser/BrowserView";
import { useAttach } from "./useAttach";
import { SessionTitle, useSessionTitle } from "./SessionTitle";
import { SessionLink } from "./SessionLink";

type Tab = "chat" | "files" | "terminal" | "browser";
const TABS: { id: Tab; label: string }[] = [
  { id: "chat", label: "Chat" },
  { id: "files", label: "Files" },
  { id: "terminal", label: "Terminal" },
  { id: "browser", label: "Browser" },
];

/** One session: chat, files, terminal and the agent's browser, each kept alive while another tab shows. */
export function SessionPage({ workspace, session, tab, message }: { workspace: string; session: string; tab: Tab; message?: number }) {
  const attach = useAttach(session);
  const title = useSessionTitle(workspace, session);
  const [opened, setOpened] = useState<Set<Tab>>(() => new Set([tab]));
  if (!opened.has(tab)) setOpened(new Set([...opened, tab]));
  const go = (next: Tab) => navigate({ page: "session", workspace, session, tab: next });
  return (
    <main className="session">
      <div className="session-head">
        <nav className="crumbs" aria-label="breadcrumb">
          <a
            href={`/w/${encodeURIComponent(workspace)}`}
            onClick={(e) => {
              e.preventDefault();
              navigate({ page: "workspace", workspace });
            }}
          >
            {workspace}
          </a>{" "}
          / <SessionTitle workspace={workspace} session={session} {...title} />
        </nav>
        {title.stored?.spec.parentSessionRef?.name && <ParentOf workspace={workspace} parent={title.stored.spec.parentSessionRef.name} />}
        <div className="tabs" role="tablist" aria-label="session views">
          {TABS.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              className={tab === t.id ? "tab active" : "tab"}
              onClick={() => go(t.id)}
              onKeyDown={(e) => {
                const index = TABS.findIndex((x) => x.id === tab);
                if (e.key === "ArrowRight") go(TABS[(index + 1) % TABS.length]!.id);
                if (e.key === "ArrowLeft") go(TABS[(index + TABS.length - 1) % TABS.length]!.id);
              }}
            >
              {t.label}
            </button>
          ))}
        </div>
        {attach.status === "attaching" && <span className="badge phase-starting">starting the runner…</span>}
        {attach.status === "failed" && (
          <span className="error small" role="alert">
            {attach.error}
          </span>
        )}
      </div>
      {TABS.map((t) =>
        opened.has(t.id) ? (
          <section key={t.id} id={`panel-${t.id}`} role="tabpanel" aria-labelledby={`tab-${t.id}`} className="panel" hidden={tab !== t.id}>
            {t.id === "chat" && <ChatView session={session} workspace={workspace} attach={attach} onPrompt={title.onPrompt} locate={message} />}
            {t.id === "files" && <FilesView session={session} attach={attach} visible={tab === "files"} />}
            {t.id === "terminal" && <TerminalView session={session} attach={attach} visible={tab === "terminal"} />}
            {t.id === "browser" && <BrowserView session={session} attach={attach} visible={tab === "browser"} />}
          </section>
        ) : null,
      )}
    </main>
  );
}

/** "sub-agent of <the session that started it>", a link while that session is there. */
function ParentOf({ workspace, parent }: { workspace: string; parent: string }) {
  const [title, setTitle] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  useEffect(() => {
    let live = true;
    api
      .session(workspace, parent)
      .then((s) => live && setTitle(sessionTitle(s)))
      .catch((e: unknown) => live && setGone(e instanceof ApiError && e.status === 404));
    return () => {
      live = false;
    };
  }, [workspace, parent]);
  return (
    <span className="sub-agent-of small" data-testid="sub-agent-of">
      <span className="sidebar-sub">sub-agent</span> of{" "}
      {gone ? (
        <span title="that session was deleted">{parent} (deleted)</span>
      ) : (
        <SessionLink workspace={workspace} session={parent} label={`${title ?? parent}, the parent session`}>
          {title ?? parent}
        </SessionLink>
      )}
    </span>
  );
}
