/** The chat of one session as a pure reducer over the agent channel's events (and the history
 * `get_messages` returns), so streaming, tool cards, phases and errors are unit-testable with
 * recorded streams from the real bridge. */
import type { AgentPhase } from "../generated/AgentPhase";
import type { Message } from "../generated/Message";
import type { Part } from "../generated/Part";
import type { Usage } from "../generated/Usage";
import type { JsonValue } from "../generated/serde_json/JsonValue";
import type { AgentFrame } from "../mux/frames";
import { reduceDelegations, type Delegation } from "./delegation";

export type ToolStatus = "pending" | "running" | "success" | "error";

export type ChatPart =
  | { kind: "text"; key: string; text: string }
  /** An image of a prompt, as base64 of one of the accepted types (chat/attachments.ts). */
  | { kind: "image"; key: string; mediaType: string; data: string }
  | { kind: "thinking"; key: string; text: string }
  | {
      kind: "tool";
      key: string;
      toolCallId: string;
      name: string;
      /** The arguments as streamed so far (JSON text), until `input` is known. */
      inputText: string;
      input?: JsonValue;
      status: ToolStatus;
      progress?: JsonValue;
      output?: JsonValue;
      durationMs?: number;
    };

export interface ChatMessage {
  id: string;
  /** Its place in the stored conversation (what a search hit names); unknown while streaming. */
  idx?: number;
  role: "user" | "assistant" | "system" | "tool";
  parts: ChatPart[];
  streaming: boolean;
  clientId?: string;
  /** An error of this turn (agent.error), shown where it happened. */
  error?: string;
  /** The user message is sent but not yet confirmed by the agent. */
  pending?: boolean;
  /** Tokens and cost of an assistant message, as the model reported them. */
  usage?: Usage;
}

export interface ChatState {
  messages: ChatMessage[];
  working: boolean;
  phase: AgentPhase | null;
  detail?: string;
  /** An error with no turn to show it on. */
  error?: { message: string; recoverable: boolean };
  retry?: { attempt: number; maxAttempts: number; error: string };
  model?: { provider: string; modelId: string };
  thinkingLevel?: string;
  historyLoaded: boolean;
  /** Events were lost (`stream.resync_required`): the history must be loaded again. */
  needsResync: boolean;
  /** Sub-agents this page saw start (`delegate.*`; not in the stored history). */
  delegations: Delegation[];
}

export const initialChat: ChatState = {
  messages: [],
  working: false,
  phase: null,
  historyLoaded: false,
  needsResync: false,
  delegations: [],
};

export type ChatAction =
  | { type: "event"; frame: AgentFrame }
  | { type: "history"; messages: Message[] }
  | { type: "sent"; clientId: string; text: string; images?: { data: string; media_type: string }[] }
  | { type: "send_failed"; clientId: string; error: string }
  /** The agent accepted the message (its `response`); the stored copy comes with the history. */
  | { type: "accepted"; clientId: string }
  /** `session.create` answered: the runner is up (the gateway's "initializing" is over). */
  | { type: "attached" }
  /** `get_state`'s `isStreaming`: whether the agent is in a turn right now. */
  | { type: "agent_state"; streaming: boolean };

function toolFromPart(part: Extract<Part, { type: "tool_call" }>): ChatPart {
  return {
    kind: "tool",
    key: part.id,
    toolCallId: part.toolCallId,
    name: part.name,
    inputText: "",
    input: part.input ?? undefined,
    status: part.status ?? "pending",
  };
}

/** A stored or finished message in the UI's shape; tool results become their cards' output. */
function fromMessage(message: Message): ChatMessage {
  const parts: ChatPart[] = [];
  for (const part of message.parts) {
    if (part.type === "text") parts.push({ kind: "text", key: part.id, text: part.text });
    else if (part.type === "thinking") parts.push({ kind: "thinking", key: part.id, text: part.text });
    else if (part.type === "tool_call") parts.push(toolFromPart(part));
    else if (part.type === "image") {
      const media = part as unknown as { source?: string; data?: unknown; mimeType?: unknown };
      if (media.source === "base64" && typeof media.data === "string" && typeof media.mimeType === "string") {
        parts.push({ kind: "image", key: part.id, mediaType: media.mimeType, data: media.data });
      }
    }
  }
  return {
    id: message.id,
    idx: message.idx,
    role: message.role,
    parts,
    streaming: false,
    clientId: message.client_id ?? undefined,
    error: message.stop_reason === "error" ? "the model stopped with an error" : undefined,
    usage: message.usage ?? undefined,
  };
}

/** Applies the tool results a message carries to the tool cards they answer. */
function applyToolResults(messages: ChatMessage[], message: Message): ChatMessage[] {
  let next = messages;
  for (const part of message.parts) {
    if (part.type !== "tool_result") continue;
    next = updateTool(next, part.toolCallId, (tool) => ({
      ...tool,
      status: part.isError || message.is_error ? "error" : "success",
      output: part.output ?? tool.output,
      durationMs: part.durationMs ?? tool.durationMs,
    }));
  }
  return next;
}

type ToolPart = Extract<ChatPart, { kind: "tool" }>;

function updateTool(
  messages: ChatMessage[],
  toolCallId: string,
  update: (tool: ToolPart) => ToolPart,
): ChatMessage[] {
  for (let m = messages.length - 1; m >= 0; m -= 1) {
    const message = messages[m]!;
    const index = message.parts.findIndex((p) => p.kind === "tool" && p.toolCallId === toolCallId);
    if (index >= 0) {
      const parts = message.parts.slice();
      parts[index] = update(parts[index] as ToolPart);
      const copy = messages.slice();
      copy[m] = { ...message, parts };
      return copy;
    }
  }
  return messages;
}

function updateMessage(
  messages: ChatMessage[],
  id: string,
  update: (message: ChatMessage) => ChatMessage,
): ChatMessage[] {
  const index = messages.findIndex((m) => m.id === id);
  if (index < 0) return messages;
  const copy = messages.slice();
  copy[index] = update(messages[index]!);
  return copy;
}

/** The message a stream event names, made when the start was missed (joined mid-turn). */
function ensureMessage(messages: ChatMessage[], id: string): ChatMessage[] {
  if (messages.some((m) => m.id === id)) return messages;
  return [...messages, { id, role: "assistant", parts: [], streaming: true }];
}

function appendDelta(
  messages: ChatMessage[],
  id: string,
  kind: "text" | "thinking",
  contentIndex: number,
  delta: string,
): ChatMessage[] {
  return updateMessage(ensureMessage(messages, id), id, (message) => {
    const parts = message.parts.slice();
    const key = `${id}:${contentIndex}`;
    const index = parts.findIndex((p) => p.key === key);
    const existing = index >= 0 ? parts[index] : undefined;
    if (existing && existing.kind === kind) {
      parts[index] = { ...existing, text: existing.text + delta };
    } else {
      parts.push({ kind, key, text: delta });
    }
    return { ...message, parts, streaming: true };
  });
}

/** Replaces the streamed message by the finished one, keeping cards' live tool state. */
function finishMessage(messages: ChatMessage[], message: Message): ChatMessage[] {
  if (message.role === "tool") return applyToolResults(messages, message);
  // A streamed message's idx is not its place in the stored conversation (the bridge numbers
  // messages when it stores the turn): it has none until the history is loaded again.
  const finished = { ...fromMessage(message), idx: undefined };
  const index = messages.findIndex(
    (m) => m.id === message.id || (message.client_id != null && m.clientId === message.client_id),
  );
  if (index < 0) return [...messages, finished];
  const before = messages[index]!;
  const parts = finished.parts.map((part) => {
    if (part.kind !== "tool") return part;
    const live = before.parts.find((p) => p.kind === "tool" && p.toolCallId === part.toolCallId);
    return live && live.kind === "tool" ? { ...live, input: part.input ?? live.input } : part;
  });
  const copy = messages.slice();
  copy[index] = { ...finished, parts, error: before.error ?? finished.error };
  return copy;
}

function lastAssistant(messages: ChatMessage[]): string | undefined {
  for (let m = messages.length - 1; m >= 0; m -= 1) {
    const message = messages[m]!;
    if (message.role === "assistant") return message.id;
    if (message.role === "user") return undefined;
  }
  return undefined;
}

function reduceEvent(state: ChatState, frame: AgentFrame): ChatState {
  switch (frame.event) {
    case "agent.working":
      return { ...state, working: true, phase: frame.phase, detail: frame.detail ?? undefined, error: undefined };
    case "agent.idle":
      return {
        ...state,
        working: false,
        phase: null,
        detail: undefined,
        retry: undefined,
        messages: state.messages.map((m) => (m.streaming ? { ...m, streaming: false } : m)),
      };
    case "agent.error": {
      const target = lastAssistant(state.messages);
      const stopped = !frame.recoverable;
      if (target) {
        return {
          ...state,
          working: stopped ? false : state.working,
          messages: updateMessage(state.messages, target, (m) => ({ ...m, error: frame.error })),
        };
      }
      return { ...state, working: stopped ? false : state.working, error: { message: frame.error, recoverable: frame.recoverable } };
    }
    case "stream.message_start": {
      if (state.messages.some((m) => m.id === frame.message_id)) return state;
      const message: ChatMessage = { id: frame.message_id, role: frame.role, parts: [], streaming: true };
      return { ...state, messages: [...state.messages, message] };
    }
    case "stream.text_delta":
      return { ...state, messages: appendDelta(state.messages, frame.message_id, "text", frame.content_index, frame.delta) };
    case "stream.thinking_delta":
      return { ...state, messages: appendDelta(state.messages, frame.message_id, "thinking", frame.content_index, frame.delta) };
    case "stream.tool_call_start": {
      const messages = updateMessage(ensureMessage(state.messages, frame.message_id), frame.message_id, (m) =>
        m.parts.some((p) => p.kind === "tool" && p.toolCallId === frame.tool_call_id)
          ? m
          : {
              ...m,
              parts: [
                ...m.parts,
                { kind: "tool", key: `${frame.message_id}:${frame.content_index}`, toolCallId: frame.tool_call_id, name: frame.name, inputText: "", status: "pending" },
              ],
            },
      );
      return { ...state, messages };
    }
    case "stream.tool_call_delta": {
      // Pi's deltas may come without the call's id: the message and content index name the card.
      const key = `${frame.message_id}:${frame.content_index}`;
      const append = (t: ToolPart): ToolPart => ({ ...t, inputText: t.inputText + frame.delta });
      const messages = frame.tool_call_id
        ? updateTool(state.messages, frame.tool_call_id, append)
        : updateMessage(state.messages, frame.message_id, (m) => ({
            ...m,
            parts: m.parts.map((p) => (p.kind === "tool" && p.key === key ? append(p) : p)),
          }));
      return { ...state, messages };
    }
    case "stream.tool_call_end":
      return {
        ...state,
        messages: updateTool(state.messages, frame.tool_call_id, (t) => ({ ...t, input: frame.tool_call.input })),
      };
    case "tool.start": {
      let messages = updateTool(state.messages, frame.tool_call_id, (t) => ({
        ...t,
        status: "running",
        input: frame.input ?? t.input,
      }));
      if (messages === state.messages) {
        // A tool the stream did not announce: its card goes on the current turn.
        const target = lastAssistant(messages) ?? `tool-${frame.tool_call_id}`;
        messages = updateMessage(ensureMessage(messages, target), target, (m) => ({
          ...m,
          parts: [
            ...m.parts,
            { kind: "tool", key: `tool:${frame.tool_call_id}`, toolCallId: frame.tool_call_id, name: frame.name, inputText: "", input: frame.input ?? undefined, status: "running" },
          ],
        }));
      }
      return { ...state, messages };
    }
    case "tool.progress":
      return {
        ...state,
        messages: updateTool(state.messages, frame.tool_call_id, (t) => ({ ...t, progress: frame.partial_output })),
      };
    case "tool.end":
      return {
        ...state,
        messages: updateTool(state.messages, frame.tool_call_id, (t) => ({
          ...t,
          status: frame.is_error ? "error" : "success",
          output: frame.output,
          durationMs: frame.duration_ms ?? undefined,
        })),
      };
    case "stream.message_end": {
      const messages = finishMessage(state.messages, frame.message).map((m) =>
        m.id === frame.message.id ? { ...m, streaming: false } : m,
      );
      return { ...state, messages };
    }
    case "stream.done":
      return { ...state, messages: state.messages.map((m) => (m.streaming ? { ...m, streaming: false } : m)) };
    case "stream.resync_required":
      return { ...state, needsResync: true };
    case "messages":
      return reduceHistory(state, frame.messages);
    case "retry.start": {
      // Pi drops the failed attempt from the conversation and asks again: so does the page.
      const last = state.messages[state.messages.length - 1];
      const messages = last && last.role === "assistant" && last.error ? state.messages.slice(0, -1) : state.messages;
      return { ...state, messages, retry: { attempt: frame.attempt, maxAttempts: frame.max_attempts, error: frame.error } };
    }
    case "retry.end":
      // A failure is followed by the bridge's final `agent.error`, shown on the turn.
      return { ...state, retry: undefined };
    case "compact.end": {
      // A compaction the user asked for ends here (no agent.idle follows it); one during a run
      // is followed by the run's own phases.
      const ended = state.phase === "compacting" ? { working: false, phase: null, detail: undefined } : {};
      // A failed compaction that Pi will not retry leaves the context too large: say so.
      return frame.success || frame.will_retry
        ? { ...state, ...ended }
        : { ...state, ...ended, error: { message: `Compacting the context failed: ${frame.error ?? "no reason given"}`, recoverable: true } };
    }
    case "config.model_changed":
      return { ...state, model: { provider: frame.provider, modelId: frame.model_id } };
    case "config.thinking_level_changed":
      return { ...state, thinkingLevel: frame.level };
    case "delegate.start":
    case "delegate.delta":
    case "delegate.end":
    case "delegate.error":
      return { ...state, delegations: reduceDelegations(state.delegations, frame, state.messages) };
    default:
      return state;
  }
}

/** The bridge marks the turn in progress in `get_messages` (runner-image/pi-bridge/src/agent/
 * running_turn.rs): its messages carry `oqto_turn: "running"`, the one streaming now also
 * `oqto_partial` (its parts keyed as the stream's deltas name them). */
function turnMark(message: Message): { running: boolean; partial: boolean } {
  const metadata = message.metadata;
  if (!metadata || typeof metadata !== "object" || Array.isArray(metadata)) return { running: false, partial: false };
  return { running: metadata.oqto_turn === "running", partial: metadata.oqto_partial === true };
}

/** The stored conversation replaces what is shown; sends not yet in it stay. A page opened
 * mid-turn gets the turn so far with it, and the stream's next events continue it. */
function reduceHistory(state: ChatState, history: Message[]): ChatState {
  let messages: ChatMessage[] = [];
  const running = new Set<string>();
  for (const message of history) {
    const mark = turnMark(message);
    if (message.role === "tool") messages = applyToolResults(messages, message);
    else messages.push({ ...fromMessage(message), streaming: mark.partial });
    if (mark.running) running.add(message.id);
  }
  for (const message of messages) {
    for (const part of message.parts) {
      // A stored call without a result was cut off; one of the running turn is still running.
      if (part.kind === "tool" && part.status === "pending") part.status = running.has(message.id) ? "running" : "success";
    }
  }
  const known = new Set(messages.map((m) => m.clientId).filter(Boolean));
  // Messages sent from this page that the store does not have yet (or that failed) stay.
  const unsent = state.messages.filter((m) => m.id.startsWith("local-") && !(m.clientId && known.has(m.clientId)));
  // A turn still streaming is kept: history holds only finished messages.
  const live = state.working ? state.messages.filter((m) => m.streaming && !messages.some((h) => h.id === m.id)) : [];
  const midTurn = running.size > 0 && !state.working;
  return {
    ...state,
    messages: [...messages, ...unsent, ...live],
    historyLoaded: true,
    needsResync: false,
    working: state.working || running.size > 0,
    phase: midTurn ? (state.phase ?? "generating") : state.phase,
  };
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case "event":
      return reduceEvent(state, action.frame);
    case "history":
      return reduceHistory(state, action.messages);
    case "sent":
      return {
        ...state,
        error: undefined,
        messages: [
          ...state.messages,
          {
            id: `local-${action.clientId}`,
            role: "user",
            clientId: action.clientId,
            parts: [
              { kind: "text", key: `${action.clientId}:0`, text: action.text },
              ...(action.images ?? []).map((image, i): ChatPart => ({ kind: "image", key: `${action.clientId}:img${i}`, mediaType: image.media_type, data: image.data })),
            ],
            streaming: false,
            pending: true,
          },
        ],
      };
    case "attached":
      return state.phase === "initializing" ? { ...state, working: false, phase: null, detail: undefined } : state;
    case "agent_state":
      if (action.streaming === state.working) return state;
      return action.streaming
        ? { ...state, working: true, phase: state.phase ?? "generating" }
        : { ...state, working: false, phase: null, detail: undefined };
    case "accepted":
      return {
        ...state,
        messages: state.messages.map((m) => (m.clientId === action.clientId && m.pending ? { ...m, pending: false } : m)),
      };
    case "send_failed":
      return {
        ...state,
        messages: state.messages.map((m) => (m.clientId === action.clientId ? { ...m, pending: false, error: action.error } : m)),
      };
  }
}

/** What the agent is doing, in words, for the status line. */
export function phaseLabel(state: ChatState): string {
  if (state.retry) return `retrying (${state.retry.attempt}/${state.retry.maxAttempts})`;
  if (!state.working) return "idle";
  switch (state.phase) {
    case "generating":
      return "generating";
    case "thinking":
      return "thinking";
    case "tool_running":
      return state.detail ? `running ${state.detail}` : "running a tool";
    case "compacting":
      return "compacting the context";
    case "retrying":
      return "retrying";
    case "initializing":
      return "starting the agent";
    default:
      return "working";
  }
}

/** A tool's output as text: Pi's `{content: [{type: "text", text}]}` (live) or the bare content
 * list (stored), else JSON. */
export function toolOutputText(output: JsonValue | undefined): string {
  if (output === undefined || output === null) return "";
  if (typeof output === "string") return output;
  const content = Array.isArray(output)
    ? output
    : typeof output === "object" && Array.isArray((output as { content?: unknown }).content)
      ? ((output as { content: JsonValue[] }).content)
      : null;
  if (content) {
    const texts = content
      .map((c) => (c && typeof c === "object" && !Array.isArray(c) && typeof c.text === "string" ? c.text : null))
      .filter((t): t is string => t !== null);
    if (texts.length === content.length) return texts.join("\n");
  }
  return JSON.stringify(output, null, 2);
}
