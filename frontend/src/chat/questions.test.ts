import { describe, expect, it } from "vitest";
import type { AgentFrame, EventOf } from "../mux/frames";
import { recorded } from "../test/recorded";
import {
  countdown,
  initialQuestions,
  nextDeadline,
  parseRequest,
  questionsReducer,
  responseFields,
  type QuestionsAction,
  type QuestionsState,
} from "./questions";

/** The real bridge's stream: a select answered, get_state while the confirm was open… (see
 * runner-image/pi-bridge/tests/questions.rs, which records it). */
const frames = recorded("questions-session.jsonl").filter((f): f is AgentFrame => f.channel === "agent");

function at(event: string, nth = 0): AgentFrame {
  const found = frames.filter((f) => f.event === event)[nth];
  if (!found) throw new Error(`the recording has no ${event} #${nth}`);
  return found;
}

function run(actions: QuestionsAction[], state: QuestionsState = initialQuestions): QuestionsState {
  return actions.reduce(questionsReducer, state);
}

const frame = (f: AgentFrame, now = 1_000): QuestionsAction => ({ type: "frame", frame: f, now });

/** A frame as the bridge sends one, with `request` as given. */
function needed(request: unknown): AgentFrame {
  return { channel: "agent", session_id: "s", runner_id: "r", ts: 0, event: "agent.input_needed", request } as unknown as AgentFrame;
}
function resolvedFrame(requestId: string): AgentFrame {
  return { channel: "agent", session_id: "s", runner_id: "r", ts: 0, event: "agent.input_resolved", request_id: requestId } as AgentFrame;
}

describe("questions over the real bridge's stream", () => {
  it("shows each question while it is open and none once the turn is over", () => {
    let state = initialQuestions;
    const open: string[][] = [];
    for (const f of frames) {
      state = questionsReducer(state, frame(f));
      if (f.event === "agent.input_needed" || f.event === "agent.input_resolved") open.push(state.questions.map((q) => q.request.type));
    }
    expect(open).toEqual([["select"], [], ["confirm"], [], ["input"], []]);
    expect(state.questions).toEqual([]);
  });

  it("takes the question's fields and its timeout in milliseconds", () => {
    const state = run([frame(at("agent.input_needed"), 5_000)]);
    const [question] = state.questions;
    expect(question?.request).toMatchObject({ type: "select", title: "Pick a colour", options: ["red", "green", "blue"] });
    // interview.ts asked with timeout_ms 600000: ten minutes from when the page got it.
    expect(question?.deadline).toBe(5_000 + 600_000);
    const input = run([frame(at("agent.input_needed", 2))]).questions[0]?.request;
    expect(input).toMatchObject({ type: "input", title: "Your name", placeholder: "a name" });
    const confirm = run([frame(at("agent.input_needed", 1))]).questions[0]?.request;
    expect(confirm).toMatchObject({ type: "confirm", title: "Ship it?", message: "This deploys to production." });
  });

  it("rebuilds the open questions from get_state's pendingInputRequests", () => {
    const reply = frames.find((f) => f.event === "response" && f.cmd === "get_state");
    const pending = (reply as { data?: { pendingInputRequests?: unknown } } | undefined)?.data?.pendingInputRequests;
    expect(Array.isArray(pending)).toBe(true);
    // A page that missed the question (reload, another tab) and one with a stale question.
    const stale = run([frame(needed({ type: "confirm", request_id: "gone", title: "Old?", message: "m" }))]);
    const state = questionsReducer(stale, { type: "snapshot", requests: pending, now: 0 });
    const asked = at("agent.input_needed") as EventOf<"agent.input_needed">;
    expect(state.questions.map((q) => q.request.request_id)).toEqual([asked.request.request_id]);
    expect(state.questions[0]?.deadline).toBeGreaterThan(0);
  });
});

describe("questions reducer", () => {
  const select = { type: "select", request_id: "q1", title: "Pick", options: ["a", "b"] };

  it("drops what is not a question rather than show it half-working", () => {
    const bad: unknown[] = [
      null,
      "select",
      { ...select, request_id: "" },
      { ...select, request_id: 7 },
      { ...select, title: undefined },
      { ...select, options: [] },
      { ...select, options: ["a", 2] },
      { ...select, timeout: -1 },
      { ...select, timeout: "10" },
      { type: "confirm", request_id: "c", title: "t" },
      { type: "input", request_id: "i", title: "t", placeholder: 3 },
      { type: "editor", request_id: "e", title: "t" },
    ];
    for (const request of bad) {
      expect(parseRequest(request)).toBeNull();
      expect(run([frame(needed(request))])).toBe(initialQuestions);
    }
    expect(parseRequest({ type: "permission", request_id: "p", title: "Write a.txt?" })).toMatchObject({ type: "permission", description: null });
  });

  it("replaces a question asked again with the same id and ignores unknown resolutions", () => {
    const state = run([frame(needed(select)), frame(needed({ ...select, title: "Pick again", timeout: 2_000 }), 10)]);
    expect(state.questions).toHaveLength(1);
    expect(state.questions[0]?.request.title).toBe("Pick again");
    expect(state.questions[0]?.deadline).toBe(2_010);
    expect(questionsReducer(state, frame(resolvedFrame("other")))).toBe(state);
    expect(questionsReducer(state, frame(resolvedFrame("q1"))).questions).toEqual([]);
  });

  it("lets questions go at their deadline; without timeout (or 0, as in Pi) they wait", () => {
    const state = run([
      frame(needed({ ...select, request_id: "soon", timeout: 1_000 }), 0),
      frame(needed({ ...select, request_id: "never" }), 0),
      frame(needed({ ...select, request_id: "zero", timeout: 0 }), 0),
    ]);
    expect(nextDeadline(state)).toBe(1_000);
    expect(questionsReducer(state, { type: "tick", now: 999 })).toBe(state);
    const later = questionsReducer(state, { type: "tick", now: 1_000 });
    expect(later.questions.map((q) => q.request.request_id)).toEqual(["never", "zero"]);
    expect(nextDeadline(later)).toBeNull();
  });

  it("tracks an answer on its way, its refusal and a dismissal", () => {
    let state = run([frame(needed(select))]);
    state = questionsReducer(state, { type: "sending", requestId: "q1" });
    expect(state.questions[0]).toMatchObject({ sending: true, error: undefined });
    state = questionsReducer(state, { type: "failed", requestId: "q1", error: "not open" });
    expect(state.questions[0]).toMatchObject({ sending: false, error: "not open" });
    // A snapshot keeps what the page knows about a question that is still open.
    const kept = questionsReducer(state, { type: "snapshot", requests: [select, select, { bad: true }], now: 0 });
    expect(kept.questions).toHaveLength(1);
    expect(kept.questions[0]?.error).toBe("not open");
    expect(questionsReducer(state, { type: "snapshot", requests: null, now: 0 })).toBe(state);
    expect(questionsReducer(state, { type: "dismiss", requestId: "q1" }).questions).toEqual([]);
    expect(questionsReducer(state, { type: "answered", requestId: "q1" }).questions).toEqual([]);
  });

  it("answers in the fields input_response takes", () => {
    const request = parseRequest(select)!;
    expect(responseFields(request, { kind: "value", value: "b" })).toEqual({ request_id: "q1", value: "b" });
    expect(responseFields(request, { kind: "confirmed", confirmed: false })).toEqual({ request_id: "q1", confirmed: false });
    expect(responseFields(request, { kind: "cancelled" })).toEqual({ request_id: "q1", cancelled: true });
  });

  it("counts down in minutes and whole seconds, rounded up", () => {
    expect(countdown(600_000, 0)).toBe("10:00");
    expect(countdown(65_000, 100)).toBe("1:05");
    expect(countdown(1_000, 999)).toBe("0:01");
    expect(countdown(1_000, 5_000)).toBe("0:00");
  });
});
