import { describe, expect, it } from "vitest";
import { chatReducer, initialChat, phaseLabel, toolOutputText, type ChatState } from "./reducer";
import type { AgentFrame } from "../mux/frames";
import type { Message } from "../generated/Message";
import { recorded } from "../test/recorded";

const frames = recorded("demo-session.jsonl").filter((f): f is AgentFrame => f.channel === "agent");

/** Replays the recording as the page sees it: the user's send, then the agent's events. */
function replay(until?: (frame: AgentFrame) => boolean): ChatState {
  let state = initialChat;
  for (const frame of frames) {
    if (frame.event === "response" && frame.cmd === "prompt") {
      const text = frame.id === "p1" ? "please write a file" : "hello";
      state = chatReducer(state, { type: "sent", clientId: `client-${frame.id}`, text });
    }
    state = chatReducer(state, { type: "event", frame });
    if (until?.(frame)) break;
  }
  return state;
}

function history(): Message[] {
  const last = frames[frames.length - 1];
  if (!last || last.event !== "response" || last.cmd !== "get_messages") throw new Error("the recording ends with get_messages");
  return (last.data as unknown as { messages: Message[] }).messages;
}

describe("chat reducer on the real bridge's stream", () => {
  it("streams text into the assistant message while the turn runs", () => {
    let seen = 0;
    const state = replay((f) => f.event === "stream.text_delta" && ++seen === 2);
    const last = state.messages[state.messages.length - 1]!;
    expect(last.streaming).toBe(true);
    const text = last.parts.find((p) => p.kind === "text");
    expect(text && text.kind === "text" && text.text).toBe(
      "I wrote **hello-from-oqto.md** in your workspace. Open it in the file browser, or run `cat hello-from-oqto.md` in the terminal.\n\n",
    );
    const thinking = last.parts.find((p) => p.kind === "thinking");
    expect(thinking && thinking.kind === "thinking" && thinking.text).toBe(
      "The write tool ran. I should tell the user where the file is.",
    );
    expect(state.working).toBe(true);
    expect(phaseLabel(state)).toBe("generating");
  });

  it("shows the tool as a running card, then with its output", () => {
    const running = replay((f) => f.event === "tool.start");
    expect(phaseLabel(running)).toBe("running write");
    const card = running.messages.flatMap((m) => m.parts).find((p) => p.kind === "tool");
    expect(card).toMatchObject({ kind: "tool", name: "write", status: "running", toolCallId: "call_1" });
    expect(card && card.kind === "tool" && (card.input as { path: string }).path).toBe("hello-from-oqto.md");
    // The arguments streamed before the call was complete.
    expect(card && card.kind === "tool" && card.inputText).toContain("hello-from-oqto.md");

    const done = replay((f) => f.event === "tool.end");
    const ended = done.messages.flatMap((m) => m.parts).find((p) => p.kind === "tool");
    expect(ended).toMatchObject({ status: "success" });
    expect(toolOutputText(ended && ended.kind === "tool" ? ended.output : undefined)).toBe(
      "Successfully wrote to hello-from-oqto.md",
    );
  });

  it("ends both turns idle with every message finished", () => {
    const state = replay((f) => f.event === "response" && f.cmd === "get_messages");
    expect(state.working).toBe(false);
    expect(phaseLabel(state)).toBe("idle");
    expect(state.messages.every((m) => !m.streaming)).toBe(true);
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant", "assistant", "user", "assistant", "assistant"]);
    const bash = state.messages.flatMap((m) => m.parts).find((p) => p.kind === "tool" && p.name === "bash");
    expect(bash && bash.kind === "tool" && toolOutputText(bash.output)).toContain("total");
  });

  it("loads the history on open: tool results fold into their cards", () => {
    const state = chatReducer(initialChat, { type: "history", messages: history() });
    expect(state.historyLoaded).toBe(true);
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant", "assistant", "user", "assistant", "assistant"]);
    const write = state.messages[1]!.parts[0]!;
    expect(write).toMatchObject({ kind: "tool", name: "write", status: "success" });
    expect(toolOutputText(write.kind === "tool" ? write.output : undefined)).toBe("Successfully wrote to hello-from-oqto.md");
    expect(state.messages[0]!.parts[0]).toMatchObject({ kind: "text", text: "please write a file" });
  });

  it("a history reload after the live turn leaves no duplicate and keeps unsent messages", () => {
    let state = replay((f) => f.event === "response" && f.cmd === "get_messages");
    state = chatReducer(state, { type: "sent", clientId: "client-later", text: "not yet sent" });
    state = chatReducer(state, { type: "history", messages: history() });
    const users = state.messages.filter((m) => m.role === "user");
    expect(users.map((m) => m.parts[0]!.kind === "text" && m.parts[0]!.text)).toEqual([
      "please write a file",
      "hello",
      "not yet sent",
    ]);
    expect(users[2]!.pending).toBe(true);
  });

  it("shows an agent error on the turn it broke and stops working when it is final", () => {
    let state = replay((f) => f.event === "stream.text_delta");
    const base = frames.find((f) => f.event === "agent.working")!;
    state = chatReducer(state, {
      type: "event",
      frame: { ...base, event: "agent.error", error: "the model is overloaded", recoverable: false } as AgentFrame,
    });
    expect(state.working).toBe(false);
    expect(state.messages[state.messages.length - 1]!.error).toBe("the model is overloaded");
  });

  it("asks for a resync when the bridge dropped events", () => {
    const base = frames.find((f) => f.event === "agent.working")!;
    const state = chatReducer(initialChat, {
      type: "event",
      frame: { ...base, event: "stream.resync_required", dropped_count: 3, reason: "slow client" } as AgentFrame,
    });
    expect(state.needsResync).toBe(true);
    expect(chatReducer(state, { type: "history", messages: [] }).needsResync).toBe(false);
  });
});

describe("chat reducer around attaching", () => {
  const working = frames.find((f) => f.event === "agent.working")!;
  it("ends the gateway's 'starting the runner' once the session is attached", () => {
    let state = chatReducer(initialChat, {
      type: "event",
      frame: { ...working, phase: "initializing", detail: "starting the session's runner" } as AgentFrame,
    });
    expect(phaseLabel(state)).toBe("starting the agent");
    state = chatReducer(state, { type: "attached" });
    expect(phaseLabel(state)).toBe("idle");
  });

  it("keeps a real turn going when attached, and follows get_state", () => {
    let state = chatReducer(initialChat, { type: "event", frame: working });
    state = chatReducer(state, { type: "attached" });
    expect(state.working).toBe(true);
    state = chatReducer(state, { type: "agent_state", streaming: false });
    expect(phaseLabel(state)).toBe("idle");
    state = chatReducer(state, { type: "agent_state", streaming: true });
    expect(phaseLabel(state)).toBe("generating");
  });
});

describe("chat reducer for the user's own messages", () => {
  it("shows a sent message as pending until the agent accepts it, and an error when it fails", () => {
    let state = chatReducer(initialChat, { type: "sent", clientId: "a", text: "one" });
    state = chatReducer(state, { type: "sent", clientId: "b", text: "two" });
    expect(state.messages.map((m) => m.pending)).toEqual([true, true]);
    state = chatReducer(state, { type: "accepted", clientId: "a" });
    state = chatReducer(state, { type: "send_failed", clientId: "b", error: "session s not found" });
    expect(state.messages.map((m) => [m.pending, m.error])).toEqual([
      [false, undefined],
      [false, "session s not found"],
    ]);
    // Not stored yet: a history reload keeps both.
    state = chatReducer(state, { type: "history", messages: [] });
    expect(state.messages.length).toBe(2);
  });
});

describe("chat reducer with the older Pi line", () => {
  it("places tool-call deltas that name no call by their message and index", () => {
    const start = frames.find((f) => f.event === "stream.tool_call_start")!;
    const delta = frames.find((f) => f.event === "stream.tool_call_delta" && f.delta !== "")!;
    let state = chatReducer(initialChat, { type: "event", frame: frames.find((f) => f.event === "stream.message_start")! });
    state = chatReducer(state, { type: "event", frame: start });
    state = chatReducer(state, { type: "event", frame: { ...delta, tool_call_id: "" } as AgentFrame });
    const card = state.messages[0]!.parts[0]!;
    expect(card.kind === "tool" && card.inputText).toContain("hello-from-oqto.md");
  });
});

describe("chat reducer while Pi compacts", () => {
  const base = frames.find((f) => f.event === "agent.working")!;
  const event = (fields: Record<string, unknown>) => ({ type: "event", frame: { ...base, ...fields } as AgentFrame }) as const;

  it("says it compacts, and shows a compaction that failed for good", () => {
    let state = chatReducer(initialChat, event({ event: "agent.working", phase: "compacting", detail: null }));
    state = chatReducer(state, event({ event: "compact.start", reason: "overflow" }));
    expect(phaseLabel(state)).toBe("compacting the context");
    // Pi will try again: nothing to report yet.
    const retried = chatReducer(state, event({ event: "compact.end", success: false, will_retry: true, error: "busy" }));
    expect(retried.error).toBeUndefined();
    const failed = chatReducer(state, event({ event: "compact.end", success: false, will_retry: false, error: "context too large" }));
    expect(failed.error?.message).toBe("Compacting the context failed: context too large");
    const done = chatReducer(state, event({ event: "compact.end", success: true, will_retry: false, summary: "s" }));
    expect(done.error).toBeUndefined();
  });
});

describe("chat reducer while Pi retries a failing model (recorded)", () => {
  const retried = recorded("retry-session.jsonl").filter((f): f is AgentFrame => f.channel === "agent");
  const replayRetry = (until?: (frame: AgentFrame, index: number) => boolean): ChatState => {
    let state = chatReducer(initialChat, { type: "sent", clientId: "client-p1", text: "hello" });
    for (const [index, frame] of retried.entries()) {
      state = chatReducer(state, { type: "event", frame });
      if (until?.(frame, index)) break;
    }
    return state;
  };

  it("says which attempt runs, and keeps no failed attempt on the page", () => {
    let starts = 0;
    const second = replayRetry((f) => f.event === "retry.start" && ++starts === 2);
    expect(phaseLabel(second)).toBe("retrying (2/2)");
    expect(second.working).toBe(true);
    expect(second.retry?.error).toContain("service unavailable");
    expect(second.messages.map((m) => m.role)).toEqual(["user"]);
  });

  it("ends idle with the final error on the turn, shown once", () => {
    const state = replayRetry();
    expect(phaseLabel(state)).toBe("idle");
    expect(state.working).toBe(false);
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(state.messages[1]!.error).toContain("scripted: service unavailable");
    expect(state.error).toBeUndefined();
  });
});

describe("chat reducer of a page opened mid-turn (recorded)", () => {
  // The real bridge's frames to a page that attached while an answer streamed: the attach,
  // get_messages' answer (the stored history and the turn so far), then the rest of the stream.
  const late = recorded("mid-turn-attach.jsonl").filter((f): f is AgentFrame => f.channel === "agent");
  const replayLate = (until?: (frame: AgentFrame) => boolean): ChatState => {
    let state = initialChat;
    for (const frame of late) {
      if (frame.event === "response" && frame.cmd === "get_messages") {
        state = chatReducer(state, { type: "history", messages: (frame.data as unknown as { messages: Message[] }).messages });
      } else state = chatReducer(state, { type: "event", frame });
      if (until?.(frame)) break;
    }
    return state;
  };
  const textOf = (state: ChatState) =>
    state.messages
      .filter((m) => m.role === "assistant")
      .flatMap((m) => m.parts)
      .map((p) => (p.kind === "text" ? p.text : ""))
      .join("");

  it("shows the prompt and the answer so far, still streaming, as soon as the history is in", () => {
    const state = replayLate((f) => f.event === "response" && f.cmd === "get_messages");
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(state.messages[1]!.streaming).toBe(true);
    expect(textOf(state)).toMatch(/^part 1\. part 2\. part 3\. /);
    expect(state.working).toBe(true);
    expect(phaseLabel(state)).toBe("generating");
  });

  it("continues that answer with the stream and ends with the whole turn, idle", () => {
    const state = replayLate();
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    const whole = Array.from({ length: 12 }, (_, i) => `part ${i + 1}. `).join("");
    expect(textOf(state)).toBe(whole);
    expect(state.messages[1]!.streaming).toBe(false);
    expect(state.working).toBe(false);
  });

  it("keeps a tool call of the running turn running until its end event", () => {
    const call: Message = {
      id: "msg_1",
      idx: 1,
      role: "assistant",
      created_at: 1,
      parts: [{ type: "tool_call", id: "msg_1:0", toolCallId: "call_1", name: "bash", input: { command: "ls" } }],
      metadata: { oqto_turn: "running" },
    } as Message;
    const state = chatReducer(initialChat, { type: "history", messages: [call] });
    const tool = state.messages[0]!.parts[0]!;
    expect(tool.kind === "tool" && tool.status).toBe("running");
    const stored = chatReducer(initialChat, { type: "history", messages: [{ ...call, metadata: null }] });
    const cut = stored.messages[0]!.parts[0]!;
    expect(cut.kind === "tool" && cut.status).toBe("success");
  });
});

describe("chat reducer around a compaction the user asked for", () => {
  const frame = (fields: Record<string, unknown>) => ({ channel: "agent", session_id: "s", runner_id: "r", ts: 1, ...fields }) as unknown as AgentFrame;
  const compacting = chatReducer(initialChat, { type: "event", frame: frame({ event: "agent.working", phase: "compacting" }) });

  it("is idle again when it ends, and says why it failed", () => {
    expect(phaseLabel(compacting)).toBe("compacting the context");
    const refused = chatReducer(compacting, {
      type: "event",
      frame: frame({ event: "compact.end", success: false, will_retry: false, error: "Nothing to compact (session too small)" }),
    });
    expect(phaseLabel(refused)).toBe("idle");
    expect(refused.error?.message).toBe("Compacting the context failed: Nothing to compact (session too small)");
    const done = chatReducer(compacting, { type: "event", frame: frame({ event: "compact.end", success: true, will_retry: false }) });
    expect(done.working).toBe(false);
    expect(done.error).toBeUndefined();
  });

  it("leaves a run that compacted midway to its own phases", () => {
    const running = chatReducer(initialChat, { type: "event", frame: frame({ event: "agent.working", phase: "generating" }) });
    const after = chatReducer(running, { type: "event", frame: frame({ event: "compact.end", success: true, will_retry: false }) });
    expect(after.working).toBe(true);
  });
});
