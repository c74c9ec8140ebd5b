import { describe, expect, it } from "vitest";
import type { Message } from "../generated/Message";
import type { AgentFrame } from "../mux/frames";
import {
  anchorFor,
  delegateTask,
  errorLabel,
  formatDuration,
  KEPT,
  mentionedSessions,
  preview,
  reduceDelegations,
  type Delegation,
} from "./delegation";
import { chatReducer, initialChat, type ChatState } from "./reducer";

/** A frame of the parent's stream as the gateway sends it (the canonical event, flattened). */
const frame = (fields: Record<string, unknown>, ts = 1_000): AgentFrame =>
  ({ channel: "agent", session_id: "lead", runner_id: "r1", ts, ...fields }) as unknown as AgentFrame;

const answer = (text: string): Message => ({
  id: "child-msg-3",
  idx: 3,
  role: "assistant",
  parts: [
    { type: "thinking", id: "t", text: "hmm" },
    { type: "text", id: "a", text },
  ],
  created_at: 5,
});

const start = (requestId: string, session: string, ts = 1_000) =>
  frame({ event: "delegate.start", request_id: requestId, target_session_id: session, target_runner_id: "r2", mode: "sync" }, ts);
const delta = (requestId: string, text: string) => frame({ event: "delegate.delta", request_id: requestId, delta: text });
const end = (requestId: string, text: string, ts = 5_000, duration?: number) =>
  frame(
    {
      event: "delegate.end",
      request_id: requestId,
      response: answer(text),
      responder: { type: "agent", id: "pi", name: "pi", session_id: "x" },
      ...(duration === undefined ? {} : { duration_ms: duration }),
    },
    ts,
  );
const failed = (requestId: string, ts = 4_000) =>
  frame({ event: "delegate.error", request_id: requestId, error: "runner r2 went away", code: "runner_unreachable" }, ts);

/** The parent's turn so far: the user asked, the agent called `delegate` twice. */
function turn(): ChatState {
  const events = [
    frame({ event: "stream.message_start", message_id: "m1", role: "assistant" }),
    frame({ event: "stream.tool_call_start", message_id: "m1", tool_call_id: "call_a", name: "delegate", content_index: 0 }),
    frame({ event: "stream.tool_call_start", message_id: "m1", tool_call_id: "call_b", name: "delegate", content_index: 1 }),
    frame({
      event: "stream.message_end",
      message: {
        id: "m1",
        idx: 1,
        role: "assistant",
        created_at: 1,
        parts: [
          { type: "tool_call", id: "m1:0", toolCallId: "call_a", name: "delegate", input: { task: "check the tests" } },
          { type: "tool_call", id: "m1:1", toolCallId: "call_b", name: "delegate", input: { task: "write the notes" } },
        ],
      },
    }),
    frame({ event: "tool.start", tool_call_id: "call_a", name: "delegate", input: { task: "check the tests" } }),
  ];
  let state = chatReducer(initialChat, { type: "sent", clientId: "c1", text: "delegate two tasks" });
  for (const f of events) state = chatReducer(state, { type: "event", frame: f });
  return state;
}

const run = (state: ChatState, frames: AgentFrame[]) => frames.reduce((s, f) => chatReducer(s, { type: "event", frame: f }), state);

describe("sub-agent cards in the parent's chat", () => {
  it("opens a card on start, streams into it, and ends it with the answer and the duration", () => {
    let state = run(turn(), [start("req-1", "lead-a"), delta("req-1", "Running the "), delta("req-1", "tests…")]);
    expect(state.delegations).toHaveLength(1);
    expect(state.delegations[0]).toMatchObject({
      requestId: "req-1",
      session: "lead-a",
      mode: "sync",
      status: "running",
      text: "Running the tests…",
      anchor: { message: "m1", toolCallId: "call_a" },
    });
    state = run(state, [end("req-1", "All 129 tests pass.", 5_000, 3_900), delta("req-1", " late")]);
    expect(state.delegations[0]).toMatchObject({ status: "done", answer: "All 129 tests pass.", durationMs: 3_900, responder: "pi" });
    expect(state.delegations[0]!.text).toBe("Running the tests…");
    // The chat itself is not touched: the tool card has its own events.
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  });

  it("gives each of two delegations its own card, each by its tool call", () => {
    let state = run(turn(), [start("req-1", "lead-a"), frame({ event: "tool.start", tool_call_id: "call_b", name: "delegate" }), start("req-2", "lead-b")]);
    state = run(state, [delta("req-2", "notes"), delta("req-1", "tests"), end("req-2", "Notes written.", 3_000), failed("req-1", 4_000)]);
    expect(state.delegations.map((d) => [d.requestId, d.session, d.anchor?.toolCallId, d.status])).toEqual([
      ["req-1", "lead-a", "call_a", "failed"],
      ["req-2", "lead-b", "call_b", "done"],
    ]);
    // No duration in the end event: the time since the start, on the events' clock.
    expect(state.delegations[1]!.durationMs).toBe(2_000);
    expect(state.delegations[0]!.error).toEqual({ message: "runner r2 went away", code: "runner_unreachable" });
    expect(state.delegations[0]!.durationMs).toBe(3_000);
    // An end after the error changes nothing.
    expect(run(state, [end("req-1", "too late")]).delegations[0]!.status).toBe("failed");
  });

  it("keeps the cards over a history reload, which does not hold them", () => {
    const state = run(turn(), [start("req-1", "lead-a"), delta("req-1", "so far")]);
    const reloaded = chatReducer(state, { type: "history", messages: [] });
    expect(reloaded.delegations).toEqual(state.delegations);
  });

  it("makes a card from whichever event comes first to a page that joined late", () => {
    let list: Delegation[] = reduceDelegations([], delta("req-9", "half"), []);
    expect(list).toEqual([{ requestId: "req-9", session: "", status: "running", text: "half", anchor: undefined }]);
    list = reduceDelegations(list, start("req-9", "lead-c"), []);
    expect(list[0]).toMatchObject({ session: "lead-c", text: "half" });
    const ended = reduceDelegations([], end("req-8", "done", 9_000), []);
    // Never saw the start: no duration but the one the event gives.
    expect(ended[0]).toMatchObject({ requestId: "req-8", session: "", status: "done", answer: "done", durationMs: undefined });
    const other = frame({ event: "agent.idle" });
    expect(reduceDelegations(list, other, [])).toBe(list);
  });

  it("keeps only the tail of a long stream", () => {
    const long = "x".repeat(KEPT + 500);
    const list = reduceDelegations(reduceDelegations([], start("r", "s"), []), delta("r", `${long}END`), []);
    expect(list[0]!.text).toHaveLength(KEPT);
    expect(list[0]!.text.endsWith("END")).toBe(true);
  });

  it("places a card without a running delegate call on the current turn, or after the chat", () => {
    const state = chatReducer(initialChat, { type: "sent", clientId: "c1", text: "hi" });
    expect(anchorFor(state.messages, [])).toBeUndefined();
    const answered = run(state, [frame({ event: "stream.message_start", message_id: "m7", role: "assistant" })]);
    expect(anchorFor(answered.messages, [])).toEqual({ message: "m7" });
  });
});

describe("what a sub-agent card says", () => {
  it("previews the last ~300 characters, from a word", () => {
    expect(preview("short")).toBe("short");
    const words = Array.from({ length: 100 }, (_, i) => `word${i}`).join(" ");
    const shown = preview(words);
    expect(shown.startsWith("…word")).toBe(true);
    expect(shown.length).toBeLessThanOrEqual(301);
    expect(words.endsWith(shown.slice(1))).toBe(true);
    expect(preview("y".repeat(400))).toBe(`…${"y".repeat(300)}`);
  });

  it("says durations and errors in words", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(4_200)).toBe("4.2 s");
    expect(formatDuration(42_000)).toBe("42 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(120_000)).toBe("2 min");
    expect(errorLabel("timeout")).toBe("the sub-agent did not answer in time");
    expect(errorLabel("something_new")).toBe("something_new");
  });

  it("finds the task of a delegate call and the child sessions a result names", () => {
    expect(delegateTask({ task: "check the tests", model: "m" })).toBe("check the tests");
    expect(delegateTask({ prompt: "p" })).toBe("p");
    expect(delegateTask({ tasks: ["a", "b"] })).toBeNull();
    expect(delegateTask("text")).toBeNull();
    const names = ["lead-a", "lead-ab", "lead"];
    expect(mentionedSessions("Sub-agent lead-ab answered.", names)).toEqual(["lead-ab"]);
    expect(mentionedSessions('{"session":"lead-a"}', names)).toEqual(["lead-a"]);
    expect(mentionedSessions("see lead-a.", names)).toEqual(["lead-a"]);
    expect(mentionedSessions("lead-a.txt, mislead", names)).toEqual([]);
    expect(mentionedSessions("", names)).toEqual([]);
  });
});
