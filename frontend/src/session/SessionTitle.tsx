import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Session } from "../api/rest";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import { frameSession, type OutgoingFrame } from "../mux/frames";
import { sessionsChanged } from "../sidebar/events";
import { sessionTitle, titleFromPrompt } from "../sidebar/sessions";
import { ConfirmButton } from "../ui/ConfirmButton";
import { navigate } from "../ui/router";

/** The session's title with rename and delete; it names itself from its first prompt, and
 * follows a title the agent sets. Returns the element and the callback for prompts. */
export function useSessionTitle(workspace: string, session: string) {
  const mux = useMux();
  const [stored, setStored] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const titled = useRef(false);

  useEffect(() => {
    api
      .session(workspace, session)
      .then((s) => {
        setStored(s);
        titled.current = Boolean(s.spec.displayName);
      })
      .catch(() => {});
  }, [workspace, session]);

  const rename = useCallback(
    (title: string, tellAgent: boolean) => {
      setError(null);
      titled.current = title.trim() !== "";
      api
        .renameSession(workspace, session, title)
        .then((s) => {
          setStored(s);
          sessionsChanged();
          if (tellAgent && s.spec.displayName) {
            // Pi keeps the name in its session file too (its own /resume lists it).
            mux
              .request({ channel: "agent", session_id: session, id: newId("name"), cmd: "set_session_name", name: s.spec.displayName } as OutgoingFrame)
              .catch(() => {});
          }
        })
        .catch((e: unknown) => setError(`Renaming failed: ${e instanceof Error ? e.message : String(e)}`));
    },
    [workspace, session, mux],
  );

  // A title the agent set (Pi's set_session_name, or an extension's).
  useEffect(
    () =>
      mux.onFrame((frame) => {
        if (frame.channel !== "agent" || frameSession(frame) !== session) return;
        const event = frame as { event?: string; title?: unknown };
        if (event.event === "session.title_changed" && typeof event.title === "string" && event.title.trim()) {
          if (event.title.trim() !== stored?.spec.displayName) rename(titleFromPrompt(event.title), false);
        }
      }),
    [mux, session, rename, stored],
  );

  /** The first prompt names an untitled session. */
  const onPrompt = useCallback(
    (text: string) => {
      if (titled.current || !stored) return;
      const title = titleFromPrompt(text);
      if (title) rename(title, true);
    },
    [rename, stored],
  );

  return { stored, error, rename, onPrompt };
}

export function SessionTitle({
  workspace,
  session,
  stored,
  error,
  rename,
}: {
  workspace: string;
  session: string;
  stored: Session | null;
  error: string | null;
  rename: (title: string, tellAgent: boolean) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState("");
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const title = stored ? sessionTitle(stored) : session;
  const save = () => {
    setEditing(false);
    if (draft.trim() !== (stored?.spec.displayName ?? "")) rename(draft, true);
  };
  return (
    <span className="session-title">
      {editing ? (
        <input
          aria-label="session title"
          value={draft}
          maxLength={128}
          autoFocus
          onChange={(e) => setDraft(e.target.value)}
          onBlur={save}
          onKeyDown={(e) => {
            if (e.key === "Enter") save();
            if (e.key === "Escape") setEditing(false);
          }}
        />
      ) : (
        <>
          <span aria-current="page" title={session} data-testid="session-title">
            {title}
          </span>
          <button
            type="button"
            className="ghost icon"
            aria-label="rename the session"
            title="Rename"
            onClick={() => {
              setDraft(stored?.spec.displayName ?? "");
              setEditing(true);
            }}
          >
            ✎
          </button>
          <ConfirmButton
            label="Delete"
            question={`Delete session “${title}”? Its runner stops; the workspace's files stay.`}
            confirmLabel="Delete session"
            onConfirm={() =>
              api
                .deleteSession(workspace, session)
                .then(() => {
                  sessionsChanged();
                  navigate({ page: "workspace", workspace });
                })
                .catch((e: unknown) => setDeleteError(`Deleting failed: ${e instanceof Error ? e.message : String(e)}`))
            }
          />
        </>
      )}
      {(error ?? deleteError) && (
        <span className="error small" role="alert">
          {error ?? deleteError}
        </span>
      )}
    </span>
  );
}
