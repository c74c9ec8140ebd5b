import { describe, expect, it } from "vitest";
import { modelLabel } from "./ModelPicker";

describe("model labels", () => {
  it("marks the demo, names the proxy's models alone and others with their provider", () => {
    expect(modelLabel({ provider: "oqto", id: "demo-not-a-real-llm" })).toBe("demo-not-a-real-llm (demo, not a real LLM)");
    expect(modelLabel({ provider: "oqto-demo", id: "demo", name: "Demo" })).toBe("Demo (demo, not a real LLM)");
    expect(modelLabel({ provider: "oqto-anthropic", id: "demo-not-a-real-llm-anthropic" })).toBe("demo-not-a-real-llm-anthropic (demo, not a real LLM)");
    expect(modelLabel({ provider: "oqto-anthropic", id: "claude-sonnet-4-5", name: "Claude Sonnet" })).toBe("Claude Sonnet");
    expect(modelLabel({ provider: "openai", id: "gpt-4.1" })).toBe("openai/gpt-4.1");
  });
});
