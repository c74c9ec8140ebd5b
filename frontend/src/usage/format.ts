/** How usage figures read: dollars with cents (fractions of a cent shown as such), tokens with
 * thousands separators, and a whole percentage of a budget. */
export function cost(usd: number): string {
  if (usd > 0 && usd < 0.01) return "<$0.01";
  return `$${usd.toFixed(2)}`;
}

export function tokens(n: number): string {
  return n.toLocaleString("en-US");
}

export function percent(spent: number, limit: number): number {
  if (limit <= 0) return spent > 0 ? 100 : 0;
  return Math.floor((spent / limit) * 100);
}
