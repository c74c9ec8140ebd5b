/** The questions the agent waits on (Pi extensions' `ctx.ui.select/confirm/input`), as a pure
 * reducer over the agent channel's frames, so the rules are unit-testable:
 *
 * - `agent.input_needed` opens a question (validated: a malformed one is dropped, never shown
 *   half-working); the same id again replaces it.
 * - `agent.input_resolved` closes it: answered here or in another tab, timed out, or the agent
 *   restarted (pi-bridge announces all of these).
 * - `get_state`'s `pendingInputRequests` is the whole truth at that moment: it replaces what the
 *   page had, for a page that attaches, re-attaches or opens the chat after the question came.
 * - A timeout (milliseconds, Pi's unit) becomes a deadline on the page's clock; past it the
 *   question goes by itself, as Pi gives up waiting then. */
import type { InputRequest } from "../generated/InputRequest";
import type { AgentFrame } from "../mux/frames";

export interface Question {
  request: InputRequest;
  /** When the agent stops waiting (ms, page clock), or null without timeout. */
  deadline: number | null;
  /** An answer is on its way. */
  sending: boolean;
  /** Why the last answer was refused or lost. */
  error?: string;
}

export interface QuestionsState {
  questions: Question[];
}

export const initialQuestions: QuestionsState = { questions: [] };

export type QuestionsAction =
  | { type: "frame"; frame: AgentFrame; now: number }
  /** `get_state`'s `pendingInputRequests` (unvalidated, as received). */
  | { type: "snapshot"; requests: unknown; now: number }
  | { type: "sending"; requestId: string }
  /** The agent took the answer. */
  | { type: "answered"; requestId: string }
  | { type: "failed"; requestId: string; error: string }
  /** The user puts away a question the agent no longer takes answers to. */
  | { type: "dismiss"; requestId: string }
  | { type: "tick"; now: number };

/** What the user gave: an option or text, yes or no, or nothing. */
export type Reply = { kind: "value"; value: string } | { kind: "confirmed"; confirmed: boolean } | { kind: "cancelled" };

const isString = (v: unknown): v is string => typeof v === "string";

/** A question as the wire carries it, checked field by field; null when it is not one. */
export function parseRequest(value: unknown): InputRequest | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const r = value as Record<string, unknown>;
  if (!isString(r.request_id) || r.request_id === "" || !isString(r.title)) return null;
  const timeout = r.timeout === undefined || r.timeout === null ? null : r.timeout;
  if (timeout !== null && (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0)) return null;
  const base = { request_id: r.request_id, title: r.title };
  switch (r.type) {
    case "select": {
      if (!Array.isArray(r.options) || r.options.length === 0 || !r.options.every(isString)) return null;
      return { type: "select", ...base, options: r.options, timeout };
    }
    case "confirm":
      if (!isString(r.message)) return null;
      return { type: "confirm", ...base, message: r.message, timeout };
    case "input":
      if (r.placeholder !== undefined && r.placeholder !== null && !isString(r.placeholder)) return null;
      return { type: "input", ...base, placeholder: r.placeholder ?? null, timeout };
    case "permission":
      if (r.description !== undefined && r.description !== null && !isString(r.description)) return null;
      return { type: "permission", ...base, description: r.description ?? null, metadata: (r.metadata ?? null) as never };
    default:
      return null;
  }
}

function timeoutOf(request: InputRequest): number | null {
  return request.type === "permission" ? null : (request.timeout ?? null);
}

function open(request: InputRequest, now: number, previous?: Question): Question {
  const timeout = timeoutOf(request);
  // 0 means no timer at all in Pi (`opts.timeout && setTimeout(…)`).
  const deadline = timeout ? now + timeout : null;
  return { request, deadline, sending: previous?.sending ?? false, error: previous?.error };
}

function update(state: QuestionsState, id: string, change: (q: Question) => Question): QuestionsState {
  if (!state.questions.some((q) => q.request.request_id === id)) return state;
  return { questions: state.questions.map((q) => (q.request.request_id === id ? change(q) : q)) };
}

function without(state: QuestionsState, id: string): QuestionsState {
  const questions = state.questions.filter((q) => q.request.request_id !== id);
  return questions.length === state.questions.length ? state : { questions };
}

export function questionsReducer(state: QuestionsState, action: QuestionsAction): QuestionsState {
  switch (action.type) {
    case "frame": {
      const frame = action.frame as { event?: unknown; request?: unknown; request_id?: unknown };
      if (frame.event === "agent.input_needed") {
        const request = parseRequest(frame.request);
        if (!request) return state;
        const previous = state.questions.find((q) => q.request.request_id === request.request_id);
        const asked = open(request, action.now);
        return previous
          ? { questions: state.questions.map((q) => (q === previous ? asked : q)) }
          : { questions: [...state.questions, asked] };
      }
      if (frame.event === "agent.input_resolved" && isString(frame.request_id)) return without(state, frame.request_id);
      return state;
    }
    case "snapshot": {
      if (!Array.isArray(action.requests)) return state;
      const questions: Question[] = [];
      for (const value of action.requests) {
        const request = parseRequest(value);
        if (!request || questions.some((q) => q.request.request_id === request.request_id)) continue;
        const previous = state.questions.find((q) => q.request.request_id === request.request_id);
        questions.push(open(request, action.now, previous));
      }
      return { questions };
    }
    case "sending":
      return update(state, action.requestId, (q) => ({ ...q, sending: true, error: undefined }));
    case "answered":
      return without(state, action.requestId);
    case "failed":
      return update(state, action.requestId, (q) => ({ ...q, sending: false, error: action.error }));
    case "dismiss":
      return without(state, action.requestId);
    case "tick": {
      const questions = state.questions.filter((q) => q.deadline === null || q.deadline > action.now);
      return questions.length === state.questions.length ? state : { questions };
    }
  }
}

/** The fields of the `input_response` command for a reply to `request`. */
export function responseFields(request: InputRequest, reply: Reply): Record<string, unknown> {
  const request_id = request.request_id;
  switch (reply.kind) {
    case "cancelled":
      return { request_id, cancelled: true };
    case "confirmed":
      return { request_id, confirmed: reply.confirmed };
    case "value":
      return { request_id, value: reply.value };
  }
}

/** The earliest deadline, for the page's one timer. */
export function nextDeadline(state: QuestionsState): number | null {
  let next: number | null = null;
  for (const q of state.questions) if (q.deadline !== null && (next === null || q.deadline < next)) next = q.deadline;
  return next;
}

/** "1:05" for what is left until `deadline`, rounded up to whole seconds. */
export function countdown(deadline: number, now: number): string {
  const seconds = Math.max(0, Math.ceil((deadline - now) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
