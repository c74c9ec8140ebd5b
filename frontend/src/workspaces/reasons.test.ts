import { describe, expect, it } from "vitest";
import { shownReason } from "./reasons";

describe("shownReason", () => {
  it("shows why a session failed or waits on an unreachable runtime, and nothing else", () => {
    expect(shownReason("Failed", "StartTimeout")).toBe(true);
    expect(shownReason("Starting", "RuntimeUnreachable")).toBe(true);
    expect(shownReason("Pending", "RuntimeUnreachable")).toBe(true);
    expect(shownReason("Starting", "StartingRunner")).toBe(false);
    expect(shownReason("Running", "RunnerReady")).toBe(false);
    expect(shownReason(undefined, undefined)).toBe(false);
  });
});
