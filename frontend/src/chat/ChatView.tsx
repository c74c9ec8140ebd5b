import { useCallback, useEffect, useReducer, useRef, useState, type KeyboardEvent } from "react";
import type { Message } from "../generated/Message";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import { frameSession, type AgentFrame, type OutgoingFrame } from "../mux/frames";
import type { Attach } from "../session/useAttach";
import { Markdown } from "./Markdown";
import { ModelPicker } from "./ModelPicker";
import { chatReducer, initialChat, phaseLabel, type ChatMessage } from "./reducer";
import { composerKey, type SendMode } from "./keys";
import { ToolCard } from "./ToolCard";

export function ChatView({ session, attach }: { session: string; attach: Attach }) {
  const mux = useMux();
  const [state, dispatch] = useReducer(chatReducer, initialChat);
  const [historyError, setHistoryError] = useState<string | null>(null);

  useEffect(
    () =>
      mux.onFrame((frame) => {
        if (frame.channel === "agent" && frameSession(frame) === session) dispatch({ type: "event", frame: frame as AgentFrame });
      }),
    [mux, session],
  );

  const agent = useCallback(
    (cmd: string, fields: Record<string, unknown> = {}) =>
      mux.request({ channel: "agent", session_id: session, id: newId(cmd), cmd, ...fields } as OutgoingFrame),
    [mux, session],
  );

  const loadHistory = useCallback(() => {
    agent("get_messages")
      .then((reply) => {
        const data = (reply as { data?: { messages?: Message[] } }).data;
        dispatch({ type: "history", messages: data?.messages ?? [] });
        setHistoryError(null);
      })
      .catch((e: unknown) => setHistoryError(`The history did not load: ${e instanceof Error ? e.message : String(e)}`));
  }, [agent]);

  // On every (re)attach: the stored conversation, so nothing shown is stale after a reconnect.
  const generation = attach.status === "attached" ? attach.generation : 0;
  useEffect(() => {
    if (generation === 0) return;
    dispatch({ type: "attached" });
    loadHistory();
    agent("get_state")
      .then((reply) => {
        const data = (reply as { data?: { isStreaming?: unknown } }).data;
        if (typeof data?.isStreaming === "boolean") dispatch({ type: "agent_state", streaming: data.isStreaming });
      })
      .catch(() => {});
  }, [generation, loadHistory, agent]);
  useEffect(() => {
    if (state.needsResync && generation > 0) loadHistory();
  }, [state.needsResync, generation, loadHistory]);

  const send = (mode: SendMode, text: string) => {
    const clientId = newId("c");
    dispatch({ type: "sent", clientId, text });
    agent(mode, { message: text, client_id: clientId })
      .then(() => dispatch({ type: "accepted", clientId }))
      .catch((e: unknown) => dispatch({ type: "send_failed", clientId, error: e instanceof Error ? e.message : String(e) }));
  };
  const abort = () => {
    mux.send({ channel: "agent", session_id: session, cmd: "abort" } as OutgoingFrame);
  };

  return (
    <div className="chat">
      <div className="chat-bar">
        <span className={`badge agent-phase ${state.working ? "working" : "idle"}`} role="status" aria-live="polite" data-testid="agent-phase" title={state.retry ? `the model failed: ${state.retry.error}` : undefined}>
          {attach.status === "attached" ? phaseLabel(state) : "waiting for the runner"}
        </span>
        <span className="spacer" />
        <ModelPicker session={session} attached={attach.status === "attached"} model={state.model} thinkingLevel={state.thinkingLevel} />
      </div>
      {historyError && <p className="error" role="alert">{historyError}</p>}
      {state.error && (
        <p className="error" role="alert">
          {state.error.message}
        </p>
      )}
      <Transcript messages={state.messages} loaded={state.historyLoaded} />
      <Composer working={state.working} disabled={attach.status === "failed"} onSend={send} onAbort={abort} />
    </div>
  );
}

function Transcript({ messages, loaded }: { messages: ChatMessage[]; loaded: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const element = ref.current;
    if (element && stick.current) element.scrollTop = element.scrollHeight;
  });
  return (
    <div
      className="transcript"
      ref={ref}
      role="log"
      aria-label="conversation"
      onScroll={(e) => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
    >
      {messages.length === 0 && <p className="muted centered-text">{loaded ? "Ask the agent something to start." : "Loading the conversation…"}</p>}
      {messages.map((m) => (
        <MessageView key={m.id} message={m} />
      ))}
    </div>
  );
}

function MessageView({ message }: { message: ChatMessage }) {
  return (
    <article className={`message ${message.role}${message.pending ? " pending" : ""}`} data-testid={`message-${message.role}`} aria-busy={message.streaming}>
      {message.parts.map((part) => {
        switch (part.kind) {
          case "text":
            return message.role === "user" ? (
              <p key={part.key} className="user-text">
                {part.text}
              </p>
            ) : (
              <Markdown key={part.key} text={part.text} />
            );
          case "thinking":
            return (
              <details key={part.key} className="thinking">
                <summary>thinking</summary>
                <div className="thinking-text">{part.text}</div>
              </details>
            );
          case "tool":
            return <ToolCard key={part.key} tool={part} />;
        }
      })}
      {message.streaming && <span className="cursor" aria-hidden="true" />}
      {message.error && (
        <p className="error small" role="alert">
          {message.error}
        </p>
      )}
    </article>
  );
}

function Composer({
  working,
  disabled,
  onSend,
  onAbort,
}: {
  working: boolean;
  disabled: boolean;
  onSend: (mode: SendMode, text: string) => void;
  onAbort: () => void;
}) {
  const [text, setText] = useState("");
  const submit = (mode: SendMode) => {
    const message = text.trim();
    if (!message) return;
    onSend(mode, message);
    setText("");
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    const action = composerKey({ key: e.key, shiftKey: e.shiftKey, altKey: e.altKey, composing: e.nativeEvent.isComposing }, working);
    if (action === "abort") onAbort();
    else if (action) {
      e.preventDefault();
      submit(action.send);
    }
  };
  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit(working ? "steer" : "prompt");
      }}
    >
      <textarea
        aria-label="message to the agent"
        placeholder={working ? "Steer the agent (Enter), queue a follow-up (Alt+Enter), stop (Esc)" : "Message the agent (Enter sends, Shift+Enter for a new line)"}
        value={text}
        rows={2}
        disabled={disabled}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <div className="composer-actions">
        {working ? (
          <>
            <button type="submit" disabled={!text.trim()}>
              Steer
            </button>
            <button type="button" className="ghost" disabled={!text.trim()} onClick={() => submit("follow_up")}>
              Follow up
            </button>
            <button type="button" className="danger" onClick={onAbort}>
              Stop
            </button>
          </>
        ) : (
          <button type="submit" disabled={disabled || !text.trim()}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}
