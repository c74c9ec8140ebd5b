import { describe, expect, it } from "vitest";
import { shortCost, shortTokens, sumUsage, usageLine } from "./usage";
import { chatReducer, initialChat } from "./reducer";
import type { Message } from "../generated/Message";
import type { AgentFrame } from "../mux/frames";
import { recorded } from "../test/recorded";

describe("usage", () => {
  it("sums what the messages carried, and knows when none named a cost", () => {
    const total = sumUsage([
      { input_tokens: 1200, output_tokens: 300, cache_read_tokens: 1000, cost_usd: 0.002 },
      null,
      { input_tokens: 10, output_tokens: 5, cost_usd: 0.0005 },
    ]);
    expect(total).toMatchObject({ input: 1210, output: 305, cacheRead: 1000, messages: 2 });
    expect(total.cost).toBeCloseTo(0.0025);
    expect(sumUsage([{ input_tokens: 1, output_tokens: 1 }]).cost).toBeNull();
  });

  it("writes figures short", () => {
    expect([950, 1000, 1250, 34_400, 1_500_000].map(shortTokens)).toEqual(["950", "1k", "1.3k", "34k", "1.5M"]);
    expect([0, 0.0042, 0.1234, 3.4].map(shortCost)).toEqual(["$0", "$0.0042", "$0.12", "$3.40"]);
    expect(usageLine({ input: 1250, output: 340, cacheRead: 0, cost: 0.0042 })).toBe("1.3k in · 340 out · $0.0042");
    expect(usageLine({ input: 10, output: 5, cacheRead: 2000, cost: 0 })).toBe("10 in · 5 out · 2k cached");
  });

  it("is kept on the chat's messages, live and from the history (the real bridge's stream)", () => {
    const frames = recorded("demo-session.jsonl").filter((f): f is AgentFrame => f.channel === "agent");
    let live = initialChat;
    for (const frame of frames) live = chatReducer(live, { type: "event", frame });
    const ends = frames.filter((f) => f.event === "stream.message_end").map((f) => (f as unknown as { message: Message }).message.usage);
    const liveTotal = sumUsage(live.messages.map((m) => m.usage));
    expect(liveTotal.messages).toBe(ends.length);
    expect(liveTotal.output).toBe(sumUsage(ends).output);
    const last = frames[frames.length - 1] as unknown as { data: { messages: Message[] } };
    const stored = chatReducer(initialChat, { type: "history", messages: last.data.messages });
    expect(sumUsage(stored.messages.map((m) => m.usage))).toEqual(liveTotal);
  });
});
