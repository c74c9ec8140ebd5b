/** A sub-agent at work for this session: who (a link to its session), what it writes as it
 * goes (the last few hundred characters), then its answer and how long it took, or why it
 * failed. The rules live in delegation.ts. */
import { useId } from "react";
import { SessionLink } from "../session/SessionLink";
import type { SessionEntry } from "../sidebar/sessions";
import { errorLabel, formatDuration, preview, type Delegation } from "./delegation";
import { Markdown } from "./Markdown";

const STATE: Record<Delegation["status"], string> = {
  running: "working…",
  done: "answered",
  failed: "failed",
};

export function DelegationCard({ delegation, workspace, child }: { delegation: Delegation; workspace?: string; child?: SessionEntry }) {
  const headId = useId();
  const { status, session } = delegation;
  const title = child?.title ?? session;
  return (
    <article
      className={`delegation delegation-${status}`}
      aria-labelledby={headId}
      // Polite, and busy while it streams: what it says is announced once it has ended.
      aria-live="polite"
      aria-busy={status === "running"}
      data-testid="delegation-card"
      data-status={status}
    >
      <div className="delegation-head" id={headId}>
        <span className="delegation-label">Sub-agent</span>
        {!session ? (
          <span className="muted">(starting)</span>
        ) : workspace ? (
          <SessionLink workspace={workspace} session={session} label={`${title}, open the sub-agent's session`} className="delegation-session">
            {title}
          </SessionLink>
        ) : (
          <span className="delegation-session">{title}</span>
        )}
        <span className={`delegation-state ${status}`}>{STATE[status]}</span>
        {delegation.mode === "async" && (
          <span className="badge" title="the agent goes on while the sub-agent works">
            async
          </span>
        )}
        {delegation.durationMs !== undefined && (
          <span className="muted small" title="how long the sub-agent took">
            {formatDuration(delegation.durationMs)}
          </span>
        )}
      </div>
      {status === "running" &&
        (delegation.text ? (
          <p className="delegation-preview" title="the last words the sub-agent wrote; its session has them all">
            {preview(delegation.text)}
          </p>
        ) : (
          <p className="muted small delegation-waiting">waiting for its first words</p>
        ))}
      {status === "done" && (
        <details className="delegation-answer" open>
          <summary>Answer{delegation.responder ? ` from ${delegation.responder}` : ""}</summary>
          {delegation.answer ? <Markdown text={delegation.answer} /> : <p className="muted small">The answer has no text.</p>}
        </details>
      )}
      {status === "failed" && delegation.error && (
        <p className="error small delegation-error">
          {errorLabel(delegation.error.code)}: {delegation.error.message} <code>{delegation.error.code}</code>
        </p>
      )}
    </article>
  );
}
