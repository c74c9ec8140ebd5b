import { describe, expect, it } from "vitest";
import { cost, percent, tokens } from "./format";

describe("usage figures", () => {
  it("shows dollars with cents and tiny amounts as under a cent", () => {
    expect(cost(0)).toBe("$0.00");
    expect(cost(0.004)).toBe("<$0.01");
    expect(cost(12.345)).toBe("$12.35");
  });
  it("groups tokens by thousands", () => {
    expect(tokens(1234567)).toBe("1,234,567");
  });
  it("gives a whole percentage of a budget, full when the budget is zero and used", () => {
    expect(percent(5, 10)).toBe(50);
    expect(percent(9.99, 10)).toBe(99);
    expect(percent(12, 10)).toBe(120);
    expect(percent(0, 0)).toBe(0);
    expect(percent(1, 0)).toBe(100);
  });
});
