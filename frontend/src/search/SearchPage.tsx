import { useEffect, useState } from "react";
import { api } from "../api/rest";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import type { OutgoingFrame } from "../mux/frames";
import { navigate } from "../ui/router";
import { mergeHits, parseHits, planSearch, snippetPieces, type Hit } from "./search";

const LIMIT = 30;

type Outcome =
  | { state: "searching" }
  | { state: "done"; hits: Hit[]; notSearched: string[]; failed: { workspace: string; error: string }[] }
  | { state: "failed"; error: string };

/** The user's chat history across Workspaces: one search per Workspace with a running Session,
 * the best hits first, each opening its session at the message. */
export function SearchPage({ query }: { query: string }) {
  const mux = useMux();
  const [draft, setDraft] = useState(query);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  useEffect(() => setDraft(query), [query]);

  useEffect(() => {
    if (!query.trim()) {
      setOutcome(null);
      return;
    }
    let live = true;
    setOutcome({ state: "searching" });
    (async () => {
      const [workspaces, sessions] = await Promise.all([api.workspaces(), api.allSessions()]);
      const plan = planSearch(workspaces, sessions);
      const failed: { workspace: string; error: string }[] = [];
      const lists = await Promise.all(
        plan.targets.map(async (target) => {
          try {
            const frame = { channel: "hstry", type: "query", session_id: target.via, id: newId("search"), query, limit: LIMIT } as unknown as OutgoingFrame;
            const reply = (await mux.request(frame, 15_000)) as { type?: string; data?: unknown; error?: string };
            if (reply.type === "error") throw new Error(reply.error ?? "the runner refused the search");
            return parseHits(target.workspace, reply.data);
          } catch (e) {
            failed.push({ workspace: target.workspace, error: e instanceof Error ? e.message : String(e) });
            return [];
          }
        }),
      );
      if (live) setOutcome({ state: "done", hits: mergeHits(lists, LIMIT), notSearched: plan.notSearched, failed });
    })().catch((e: unknown) => {
      if (live) setOutcome({ state: "failed", error: e instanceof Error ? e.message : String(e) });
    });
    return () => {
      live = false;
    };
  }, [query, mux]);

  return (
    <main className="page">
      <h1>Search the history</h1>
      <form
        className="row"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate({ page: "search", query: draft.trim() });
        }}
      >
        <input type="search" aria-label="search the history" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Words from any chat" maxLength={500} />
        <button type="submit" disabled={!draft.trim()}>
          Search
        </button>
      </form>
      {outcome?.state === "searching" && <p className="muted">Searching…</p>}
      {outcome?.state === "failed" && (
        <p className="error" role="alert">
          The search failed: {outcome.error}
        </p>
      )}
      {outcome?.state === "done" && (
        <>
          {outcome.failed.map((f) => (
            <p key={f.workspace} className="error small" role="alert">
              {f.workspace}: {f.error}
            </p>
          ))}
          {outcome.hits.length === 0 ? (
            <p className="muted">Nothing found for “{query}”.</p>
          ) : (
            <ul className="list search-hits" aria-label="search results">
              {outcome.hits.map((hit) => (
                <li key={`${hit.workspace}/${hit.session}/${hit.messageIdx}`} className="item">
                  <a
                    href={`/w/${encodeURIComponent(hit.workspace)}/s/${encodeURIComponent(hit.session)}?m=${hit.messageIdx}`}
                    data-testid="search-hit"
                    onClick={(e) => {
                      e.preventDefault();
                      navigate({ page: "session", workspace: hit.workspace, session: hit.session, tab: "chat", message: hit.messageIdx });
                    }}
                  >
                    <span className="search-where">
                      {hit.workspace} / {hit.title || hit.session} · {hit.role}
                      {hit.createdAt > 0 && ` · ${new Date(hit.createdAt).toLocaleString()}`}
                    </span>
                    <span className="search-snippet">
                      {snippetPieces(hit.snippet).map((p, i) => (p.marked ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          )}
          {outcome.notSearched.length > 0 && (
            <p className="muted small" role="note">
              Not searched, no session running: {outcome.notSearched.join(", ")}. Open a session there to include its history.
            </p>
          )}
        </>
      )}
    </main>
  );
}
