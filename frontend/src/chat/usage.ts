/** Token usage and cost of a chat's messages (the canonical `usage` the bridge puts on each
 * assistant message, live and stored), summed per session and written short. */
import type { Usage } from "../generated/Usage";

export interface UsageTotal {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  /** US dollars; null when no message named a cost. */
  cost: number | null;
  /** Messages that carried usage. */
  messages: number;
}

export function sumUsage(usages: (Usage | undefined | null)[]): UsageTotal {
  const total: UsageTotal = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cost: null, messages: 0 };
  for (const u of usages) {
    if (!u) continue;
    total.messages += 1;
    total.input += u.input_tokens;
    total.output += u.output_tokens;
    total.cacheRead += u.cache_read_tokens ?? 0;
    total.cacheWrite += u.cache_write_tokens ?? 0;
    if (typeof u.cost_usd === "number" && Number.isFinite(u.cost_usd)) total.cost = (total.cost ?? 0) + u.cost_usd;
  }
  return total;
}

/** 950, 1.2k, 34k, 1.5M. */
export function shortTokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 10_000) return `${(n / 1000).toFixed(1).replace(/\.0$/, "")}k`;
  if (n < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${(n / 1_000_000).toFixed(1).replace(/\.0$/, "")}M`;
}

/** $0.0042, $0.12, $3.40: small amounts keep two significant digits. */
export function shortCost(usd: number): string {
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(2)}`;
}

/** "1.2k in · 340 out · $0.0042" (cache reads when there are any). */
export function usageLine(u: { input: number; output: number; cacheRead: number; cost: number | null }): string {
  const parts = [`${shortTokens(u.input)} in`, `${shortTokens(u.output)} out`];
  if (u.cacheRead > 0) parts.push(`${shortTokens(u.cacheRead)} cached`);
  if (u.cost !== null && u.cost > 0) parts.push(shortCost(u.cost));
  return parts.join(" · ");
}
