import { Fragment, useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { Message } from "../generated/Message";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import { frameSession, type AgentFrame, type OutgoingFrame } from "../mux/frames";
import type { Attach } from "../session/useAttach";
import { Markdown } from "./Markdown";
import { ModelPicker } from "./ModelPicker";
import { chatReducer, initialChat, phaseLabel, type ChatMessage } from "./reducer";
import type { SendMode } from "./keys";
import { Composer } from "./Composer";
import { parseCommands } from "./commands";
import { dataUrl } from "./attachments";
import { ToolCard, type SubAgents } from "./ToolCard";
import { sumUsage, usageLine } from "./usage";
import { Questions } from "./Questions";
import { DELEGATE_TOOL, type Delegation } from "./delegation";
import { DelegationCard } from "./DelegationCard";
import { useChildSessions } from "./useChildSessions";
import { sessionsChanged } from "../sidebar/events";
import { actionPrompt, SHOW_UI_TOOL, surfaceCalls } from "./a2ui/messages";
import { SurfaceCards, useSurfaces, type Surfaces } from "./a2ui/Surfaces";

export function ChatView({
  session,
  workspace,
  attach,
  onPrompt,
  locate,
}: {
  session: string;
  /** The session's workspace, where its sub-agents' sessions are (their links and titles). */
  workspace?: string;
  attach: Attach;
  onPrompt?: (text: string) => void;
  /** The stored message to scroll to and mark (a search result's). */
  locate?: number;
}) {
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

  const send = (mode: SendMode, text: string, images: { data: string; media_type: string }[] = []) => {
    const clientId = newId("c");
    dispatch({ type: "sent", clientId, text, images });
    onPrompt?.(text);
    agent(mode, { message: text, client_id: clientId, ...(images.length > 0 ? { images } : {}) })
      .then(() => dispatch({ type: "accepted", clientId }))
      .catch((e: unknown) => dispatch({ type: "send_failed", clientId, error: e instanceof Error ? e.message : String(e) }));
  };
  // A2UI surfaces the agent laid out (its `show_ui` calls); a button sends the action back.
  const calls = useMemo(() => surfaceCalls(state.messages), [state.messages]);
  const surfaces = useSurfaces(session, calls, (action) =>
    send(state.working ? "follow_up" : "prompt", actionPrompt(action)),
  );
  const loadCommands = useCallback(() => agent("get_commands").then((reply) => parseCommands((reply as { data?: unknown }).data)), [agent]);
  const [compactError, setCompactError] = useState<string | null>(null);
  const compact = () => {
    setCompactError(null);
    // Progress comes as compact.start/compact.end (the phase "compacting the context").
    agent("compact").catch((e: unknown) => setCompactError(`Compacting failed: ${e instanceof Error ? e.message : String(e)}`));
  };
  // Sub-agents: their sessions' titles for the cards, loaded again as they start and end; the
  // sidebar is told at once, so the new sessions show under this one without waiting its poll.
  const delegationsKey = state.delegations.map((d) => `${d.requestId}:${d.session}:${d.status}`).join(" ");
  const delegateCalls = state.messages.reduce(
    (n, m) => n + m.parts.filter((p) => p.kind === "tool" && p.name === DELEGATE_TOOL && p.status !== "pending" && p.status !== "running").length,
    0,
  );
  const children = useChildSessions(workspace, session, delegationsKey || delegateCalls ? `${delegationsKey}|${delegateCalls}` : "");
  useEffect(() => {
    if (delegationsKey) sessionsChanged();
  }, [delegationsKey]);
  const subAgents: SubAgents = { workspace, children };

  const abort = () => {
    mux.send({ channel: "agent", session_id: session, cmd: "abort" } as OutgoingFrame);
  };

  return (
    <div className="chat">
      <div className="chat-bar">
        <span className={`badge agent-phase ${state.working ? "working" : "idle"}`} role="status" aria-live="polite" data-testid="agent-phase" title={state.retry ? `the model failed: ${state.retry.error}` : undefined}>
          {attach.status === "attached" ? phaseLabel(state) : "waiting for the runner"}
        </span>
        <SessionUsage messages={state.messages} />
        <span className="spacer" />
        <button
          type="button"
          className="ghost small-button"
          title="Summarise the conversation so far to free the model's context"
          disabled={attach.status !== "attached" || state.working || state.messages.length === 0}
          onClick={compact}
        >
          Compact
        </button>
        <ModelPicker session={session} attached={attach.status === "attached"} model={state.model} thinkingLevel={state.thinkingLevel} />
      </div>
      {historyError && <p className="error" role="alert">{historyError}</p>}
      {compactError && !state.error && <p className="error" role="alert">{compactError}</p>}
      {state.error && (
        <p className="error" role="alert">
          {state.error.message}
        </p>
      )}
      <Transcript
        messages={state.messages}
        loaded={state.historyLoaded}
        locate={locate}
        delegations={state.delegations}
        subAgents={subAgents}
        surfaces={surfaces}
      />
      <Questions session={session} attached={attach.status === "attached"} />
      <Composer working={state.working} disabled={attach.status === "failed"} onSend={send} onAbort={abort} loadCommands={loadCommands} />
    </div>
  );
}

/** What the session used so far, from its messages' usage. */
function SessionUsage({ messages }: { messages: ChatMessage[] }) {
  const total = sumUsage(messages.map((m) => m.usage));
  if (total.messages === 0) return null;
  return (
    <span className="muted small" data-testid="session-usage" title="tokens and cost of this session's answers">
      {usageLine(total)}
    </span>
  );
}

function Transcript({
  messages,
  loaded,
  locate,
  delegations,
  subAgents,
  surfaces,
}: {
  messages: ChatMessage[];
  loaded: boolean;
  locate?: number;
  delegations: Delegation[];
  subAgents: SubAgents;
  surfaces: Surfaces;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  // Cards whose message is not shown (started before any answer, or gone with a reload) follow
  // the conversation.
  const shown = new Set(messages.map((m) => m.id));
  const unplaced = delegations.filter((d) => !d.anchor || !shown.has(d.anchor.message));
  const located = useRef<number | undefined>(undefined);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    if (locate !== undefined && located.current !== locate) {
      // Once, when the message is there: then the reader scrolls on their own.
      const target = element.querySelector<HTMLElement>(`[data-idx="${locate}"]`);
      if (target) {
        located.current = locate;
        stick.current = false;
        target.scrollIntoView({ block: "center" });
      }
      return;
    }
    if (stick.current) element.scrollTop = element.scrollHeight;
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
      {messages.length === 0 && unplaced.length === 0 && (
        <p className="muted centered-text">{loaded ? "Ask the agent something to start." : "Loading the conversation…"}</p>
      )}
      {messages.map((m) => (
        <MessageView
          key={m.id}
          message={m}
          located={locate !== undefined && m.idx === locate}
          delegations={delegations.filter((d) => d.anchor?.message === m.id)}
          subAgents={subAgents}
          surfaces={surfaces}
        />
      ))}
      {unplaced.map((d) => (
        <SubAgentCard key={d.requestId} delegation={d} subAgents={subAgents} />
      ))}
    </div>
  );
}

function SubAgentCard({ delegation, subAgents }: { delegation: Delegation; subAgents: SubAgents }) {
  return (
    <DelegationCard
      delegation={delegation}
      workspace={subAgents.workspace}
      child={subAgents.children.find((c) => c.name === delegation.session)}
    />
  );
}

function MessageView({
  message,
  located,
  delegations,
  subAgents,
  surfaces,
}: {
  message: ChatMessage;
  located: boolean;
  /** The sub-agent cards that started in this message: each after its `delegate` call. */
  delegations: Delegation[];
  subAgents: SubAgents;
  surfaces: Surfaces;
}) {
  const calls = new Set(message.parts.map((p) => (p.kind === "tool" ? p.toolCallId : "")));
  const rest = delegations.filter((d) => !d.anchor?.toolCallId || !calls.has(d.anchor.toolCallId));
  return (
    <article
      className={`message ${message.role}${message.pending ? " pending" : ""}${located ? " located" : ""}`}
      data-testid={`message-${message.role}`}
      data-idx={message.idx}
      aria-current={located ? "true" : undefined}
      aria-busy={message.streaming}
    >
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
          case "tool": {
            const live = delegations.filter((d) => d.anchor?.toolCallId === part.toolCallId);
            return (
              <Fragment key={part.key}>
                <ToolCard tool={part} subAgents={subAgents} live={live[0]} />
                {part.name === SHOW_UI_TOOL && <SurfaceCards surfaces={surfaces} toolCallId={part.toolCallId} />}
                {live.map((d) => (
                  <SubAgentCard key={d.requestId} delegation={d} subAgents={subAgents} />
                ))}
              </Fragment>
            );
          }
          case "image": {
            const src = dataUrl(part.mediaType, part.data);
            return src ? <img key={part.key} className="message-image" src={src} alt="an image sent with the message" /> : null;
          }
        }
      })}
      {rest.map((d) => (
        <SubAgentCard key={d.requestId} delegation={d} subAgents={subAgents} />
      ))}
      {message.streaming && <span className="cursor" aria-hidden="true" />}
      {message.usage && !message.streaming && (
        <p className="usage-line" data-testid="message-usage">
          {usageLine(sumUsage([message.usage]))}
        </p>
      )}
      {message.error && (
        <p className="error small" role="alert">
          {message.error}
        </p>
      )}
    </article>
  );
}
