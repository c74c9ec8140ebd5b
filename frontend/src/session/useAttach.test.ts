import { describe, expect, it } from "vitest";
import { retryDelayMs } from "./useAttach";

describe("retrying a failed attach", () => {
  it("waits 2 s, doubling, and never more than 30 s", () => {
    expect([1, 2, 3, 4, 5, 50].map(retryDelayMs)).toEqual([2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });
});
