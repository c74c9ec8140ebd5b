/** Sub-agents at work, as a pure reducer over the parent session's `delegate.*` events, so the
 * cards' rules are unit-testable:
 *
 * - `delegate.start` opens a card for its `request_id`, naming the child Session
 *   (`target_session_id`, a Session name of the same workspace); the same id again updates it.
 * - `delegate.delta` appends to what the child wrote so far (its card shows the tail).
 * - `delegate.end` gives the answer (the child's response message) and how long it took;
 *   `delegate.error` the error and its code. Either ends the card; later deltas are ignored.
 * - A page that joined late gets a card from whichever event comes first.
 *
 * The events are not in the stored history: after a reload the `delegate` tool card (a normal
 * Pi tool call) shows the answer instead. The cards do survive a history reload of the page. */
import type { DelegateErrorCode } from "../generated/DelegateErrorCode";
import type { DelegateMode } from "../generated/DelegateMode";
import type { Message } from "../generated/Message";
import type { JsonValue } from "../generated/serde_json/JsonValue";
import type { AgentFrame } from "../mux/frames";
import type { ChatMessage } from "./reducer";

/** The name of Pi's tool that starts a sub-agent. */
export const DELEGATE_TOOL = "delegate";

export type DelegationStatus = "running" | "done" | "failed";

export interface Delegation {
  requestId: string;
  /** The child Session's name; empty until `delegate.start` names it (a page that joined late). */
  session: string;
  mode?: DelegateMode;
  status: DelegationStatus;
  /** The tail of what the child wrote so far (at most `KEPT` characters). */
  text: string;
  /** The answer's text, once it ended. */
  answer?: string;
  /** Who answered (the child agent's name), when given. */
  responder?: string;
  durationMs?: number;
  error?: { message: string; code: DelegateErrorCode };
  /** Page clock of the start (the event's `ts`), for a duration the end does not give. */
  startedAt?: number;
  /** Where the card shows: the message it started in, and the `delegate` tool call it belongs
   * to when one was running then. Without them it goes after the conversation. */
  anchor?: { message: string; toolCallId?: string };
}

/** Streamed text kept per card: its preview shows only the last ~300 characters. */
export const KEPT = 4000;

type DelegateFrame = Extract<AgentFrame, { event: "delegate.start" | "delegate.delta" | "delegate.end" | "delegate.error" }>;

export function isDelegateFrame(frame: AgentFrame): frame is DelegateFrame {
  return frame.event === "delegate.start" || frame.event === "delegate.delta" || frame.event === "delegate.end" || frame.event === "delegate.error";
}

/** The text parts of a message, as one Markdown text. */
export function messageText(message: Message | null | undefined): string {
  return (message?.parts ?? [])
    .map((p) => (p.type === "text" ? p.text : ""))
    .filter((t) => t.trim() !== "")
    .join("\n\n");
}

/** Where a card that starts now goes: the latest `delegate` tool call still running and not
 * yet claimed by another card, else the current turn's last message. */
export function anchorFor(messages: ChatMessage[], delegations: Delegation[]): Delegation["anchor"] {
  const claimed = new Set(delegations.map((d) => d.anchor?.toolCallId).filter(Boolean));
  for (let m = messages.length - 1; m >= 0; m -= 1) {
    const message = messages[m]!;
    // The earliest unclaimed call of the message: Pi runs a message's calls in order.
    const call = message.parts.find(
      (p) => p.kind === "tool" && p.name === DELEGATE_TOOL && (p.status === "running" || p.status === "pending") && !claimed.has(p.toolCallId),
    );
    if (call && call.kind === "tool") return { message: message.id, toolCallId: call.toolCallId };
    if (message.role === "user") break;
  }
  for (let m = messages.length - 1; m >= 0; m -= 1) {
    const message = messages[m]!;
    if (message.role === "assistant") return { message: message.id };
    if (message.role === "user") return undefined;
  }
  return undefined;
}

function upsert(list: Delegation[], requestId: string, change: (d: Delegation) => Delegation, fresh: () => Delegation): Delegation[] {
  const index = list.findIndex((d) => d.requestId === requestId);
  if (index < 0) return [...list, change(fresh())];
  const copy = list.slice();
  copy[index] = change(list[index]!);
  return copy;
}

/** The cards after one `delegate.*` frame; `messages` place a card that starts. Other frames
 * leave the list as it is. */
export function reduceDelegations(list: Delegation[], frame: AgentFrame, messages: ChatMessage[]): Delegation[] {
  if (!isDelegateFrame(frame)) return list;
  const fresh = (): Delegation => ({ requestId: frame.request_id, session: "", status: "running", text: "", anchor: anchorFor(messages, list) });
  switch (frame.event) {
    case "delegate.start":
      return upsert(
        list,
        frame.request_id,
        (d) => ({ ...d, session: frame.target_session_id, mode: frame.mode, startedAt: d.startedAt ?? frame.ts }),
        fresh,
      );
    case "delegate.delta":
      return upsert(
        list,
        frame.request_id,
        (d) => (d.status === "running" ? { ...d, text: (d.text + frame.delta).slice(-KEPT) } : d),
        fresh,
      );
    case "delegate.end":
      return upsert(
        list,
        frame.request_id,
        (d) =>
          d.status !== "running"
            ? d
            : {
                ...d,
                status: "done",
                answer: messageText(frame.response),
                // The backend does not emit these yet: a missing field must not break the chat.
                responder: frame.responder?.name || undefined,
                durationMs: frame.duration_ms ?? (d.startedAt !== undefined && frame.ts >= d.startedAt ? frame.ts - d.startedAt : undefined),
              },
        fresh,
      );
    case "delegate.error":
      return upsert(
        list,
        frame.request_id,
        (d) =>
          d.status !== "running"
            ? d
            : {
                ...d,
                status: "failed",
                error: { message: frame.error, code: frame.code },
                durationMs: d.startedAt !== undefined && frame.ts >= d.startedAt ? frame.ts - d.startedAt : undefined,
              },
        fresh,
      );
  }
}

/** The last ~`max` characters of streamed text, cut at a word when one is near, with "…" when
 * something comes before. */
export function preview(text: string, max = 300): string {
  if (text.length <= max) return text;
  const tail = text.slice(-max);
  const space = tail.search(/\s/);
  return `…${space >= 0 && space < 40 ? tail.slice(space + 1) : tail}`;
}

/** "850 ms", "4.2 s", "42 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const rest = seconds % 60;
  return rest === 0 ? `${Math.floor(seconds / 60)} min` : `${Math.floor(seconds / 60)} min ${rest} s`;
}

const ERRORS: Record<DelegateErrorCode, string> = {
  target_not_found: "the sub-agent's session was not found",
  permission_denied: "this session may not delegate to it",
  timeout: "the sub-agent did not answer in time",
  target_error: "the sub-agent failed",
  cancelled: "the delegation was cancelled",
  runner_unreachable: "the sub-agent's runner could not be reached",
};

/** What an error code means, in words (an unknown code as it is). */
export function errorLabel(code: DelegateErrorCode | string): string {
  return ERRORS[code as DelegateErrorCode] ?? code;
}

/** The task a `delegate` tool call gives, when its input names one in a usual field. */
export function delegateTask(input: JsonValue | undefined): string | null {
  if (!input || typeof input !== "object" || Array.isArray(input)) return null;
  for (const key of ["task", "prompt", "message", "instructions"]) {
    const value = input[key];
    if (typeof value === "string" && value.trim()) return value;
  }
  return null;
}

/** Which of `names` (Session names: lowercase letters, digits, `-` and `.`) the text mentions
 * as a whole name, in the order given. */
export function mentionedSessions(text: string, names: string[]): string[] {
  if (!text) return [];
  return names.filter((name) => {
    if (!name) return false;
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`(^|[^a-z0-9.-])${escaped}($|[^a-z0-9.-]|\\.(?![a-z0-9]))`).test(text);
  });
}
