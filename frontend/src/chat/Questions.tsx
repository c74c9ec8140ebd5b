/** The questions the agent waits on, as cards above the composer: options as buttons, yes/no,
 * a text field, or allow/deny, each with Cancel and, when the agent waits only so long, a
 * countdown. Answers go back as `input_response`; the rules live in questions.ts. */
import { useCallback, useEffect, useId, useReducer, useState, type FormEvent, type KeyboardEvent } from "react";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import { frameSession, type AgentFrame, type OutgoingFrame } from "../mux/frames";
import { countdown, initialQuestions, nextDeadline, questionsReducer, responseFields, type Question, type Reply } from "./questions";

/** The session's open questions, kept current from its agent frames and, on every attach (and
 * when the chat opens), from `get_state`, which also knows the ones this page missed. */
export function useQuestions(session: string, attached: boolean) {
  const mux = useMux();
  const [state, dispatch] = useReducer(questionsReducer, initialQuestions);
  const [now, setNow] = useState(() => Date.now());

  useEffect(
    () =>
      mux.onFrame((frame) => {
        if (frame.channel === "agent" && frameSession(frame) === session) dispatch({ type: "frame", frame: frame as AgentFrame, now: Date.now() });
      }),
    [mux, session],
  );

  useEffect(() => {
    if (!attached) return;
    let live = true;
    mux
      .request({ channel: "agent", session_id: session, id: newId("questions"), cmd: "get_state" } as OutgoingFrame)
      .then((reply) => {
        const data = (reply as { data?: { pendingInputRequests?: unknown } }).data;
        // An older runner does not report them: then what the frames said stands.
        if (live && data && "pendingInputRequests" in data) dispatch({ type: "snapshot", requests: data.pendingInputRequests, now: Date.now() });
      })
      .catch(() => {
        // The chat shows the agent's state and errors; the questions keep what the frames said.
      });
    return () => {
      live = false;
    };
  }, [mux, session, attached]);

  // One timer while a question has a deadline: the countdowns move and expired ones go.
  const deadline = nextDeadline(state);
  useEffect(() => {
    if (deadline === null) return;
    const timer = setInterval(() => {
      const t = Date.now();
      setNow(t);
      dispatch({ type: "tick", now: t });
    }, 1000);
    setNow(Date.now());
    return () => clearInterval(timer);
  }, [deadline]);

  const answer = useCallback(
    (question: Question, reply: Reply) => {
      const requestId = question.request.request_id;
      dispatch({ type: "sending", requestId });
      mux
        .request({ channel: "agent", session_id: session, id: newId("answer"), cmd: "input_response", ...responseFields(question.request, reply) } as OutgoingFrame)
        .then(() => dispatch({ type: "answered", requestId }))
        .catch((e: unknown) => dispatch({ type: "failed", requestId, error: `The answer did not reach the agent: ${e instanceof Error ? e.message : String(e)}` }));
    },
    [mux, session],
  );
  const dismiss = useCallback((question: Question) => dispatch({ type: "dismiss", requestId: question.request.request_id }), []);

  return { questions: state.questions, now, answer, dismiss };
}

export function Questions({ session, attached }: { session: string; attached: boolean }) {
  const { questions, now, answer, dismiss } = useQuestions(session, attached);
  return (
    // Always there (empty when nothing is asked): a live region announces what appears in it.
    <section className="questions" aria-label="questions from the agent" aria-live="polite">
      {questions.map((q) => (
        <QuestionCard
          key={q.request.request_id}
          question={q}
          now={now}
          disabled={!attached || q.sending}
          onReply={(reply) => answer(q, reply)}
          onDismiss={() => dismiss(q)}
        />
      ))}
    </section>
  );
}

function QuestionCard({
  question,
  now,
  disabled,
  onReply,
  onDismiss,
}: {
  question: Question;
  now: number;
  disabled: boolean;
  onReply: (reply: Reply) => void;
  onDismiss: () => void;
}) {
  const { request } = question;
  const titleId = useId();
  const cancel = () => onReply({ kind: "cancelled" });
  return (
    <article className="question" role="group" aria-labelledby={titleId} aria-busy={question.sending} data-testid="question">
      <div className="question-head">
        <span className="muted small">{request.type === "permission" ? "The agent asks for permission" : "The agent asks"}</span>
        {question.deadline !== null && (
          <span className="badge question-timer" role="timer" title="the agent stops waiting then and goes on without an answer">
            answer within {countdown(question.deadline, now)}
          </span>
        )}
      </div>
      <p className="question-title" id={titleId}>
        {request.title}
      </p>
      {request.type === "select" && (
        <div className="question-actions" role="group" aria-label="options">
          {request.options.map((option) => (
            <button key={option} type="button" className="ghost question-option" disabled={disabled} onClick={() => onReply({ kind: "value", value: option })}>
              {option}
            </button>
          ))}
          <CancelButton disabled={disabled} onCancel={cancel} />
        </div>
      )}
      {request.type === "confirm" && (
        <>
          {request.message && <p className="question-message">{request.message}</p>}
          <div className="question-actions">
            <button type="button" disabled={disabled} onClick={() => onReply({ kind: "confirmed", confirmed: true })}>
              Yes
            </button>
            <button type="button" className="ghost" disabled={disabled} onClick={() => onReply({ kind: "confirmed", confirmed: false })}>
              No
            </button>
            <CancelButton disabled={disabled} onCancel={cancel} />
          </div>
        </>
      )}
      {request.type === "input" && <TextAnswer label={request.title} placeholder={request.placeholder ?? undefined} disabled={disabled} onReply={onReply} onCancel={cancel} />}
      {request.type === "permission" && (
        <>
          {request.description && <p className="question-message">{request.description}</p>}
          <div className="question-actions">
            <button type="button" disabled={disabled} onClick={() => onReply({ kind: "confirmed", confirmed: true })}>
              Allow
            </button>
            <button type="button" className="danger" disabled={disabled} onClick={() => onReply({ kind: "confirmed", confirmed: false })}>
              Deny
            </button>
            <CancelButton disabled={disabled} onCancel={cancel} />
          </div>
        </>
      )}
      {question.error && (
        <div className="question-error">
          <p className="error small" role="alert">
            {question.error}
          </p>
          <button type="button" className="ghost" onClick={onDismiss}>
            Dismiss
          </button>
        </div>
      )}
    </article>
  );
}

function CancelButton({ disabled, onCancel }: { disabled: boolean; onCancel: () => void }) {
  return (
    <button type="button" className="ghost question-cancel" disabled={disabled} onClick={onCancel} title="the agent goes on without an answer">
      Cancel
    </button>
  );
}

function TextAnswer({
  label,
  placeholder,
  disabled,
  onReply,
  onCancel,
}: {
  label: string;
  placeholder?: string;
  disabled: boolean;
  onReply: (reply: Reply) => void;
  onCancel: () => void;
}) {
  const [text, setText] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (text.trim()) onReply({ kind: "value", value: text });
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Escape" && !disabled) {
      e.preventDefault();
      onCancel();
    }
  };
  return (
    <form className="question-actions" onSubmit={submit}>
      <input className="question-input" aria-label={`answer: ${label}`} placeholder={placeholder} value={text} disabled={disabled} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} />
      <button type="submit" disabled={disabled || !text.trim()}>
        Send answer
      </button>
      <CancelButton disabled={disabled} onCancel={onCancel} />
    </form>
  );
}
