import type { ApiKeyInfo } from "../api/rest";

/** The lifetimes offered for a new key; null: until revoked. */
export const EXPIRY_CHOICES: { label: string; days: number | null }[] = [
  { label: "7 days", days: 7 },
  { label: "30 days", days: 30 },
  { label: "90 days", days: 90 },
  { label: "1 year", days: 365 },
  { label: "never (until revoked)", days: null },
];
export const DEFAULT_EXPIRY_DAYS = 90;

export type KeyState = "active" | "expired" | "revoked";

export function keyState(key: ApiKeyInfo, now: number): KeyState {
  if (key.revoked_at !== null) return "revoked";
  if (key.expires_at != null && key.expires_at <= now) return "expired";
  return "active";
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A span as people say it: whole minutes, hours or days. Time left is rounded up (a key made
 * for 30 days "expires in 30 days", not 29), time past down. */
export function span(ms: number, round: "up" | "down" = "down"): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const whole = round === "up" ? Math.ceil : Math.floor;
  const abs = Math.abs(ms);
  if (abs >= DAY) return unit(whole(abs / DAY), "day");
  if (abs >= HOUR) return unit(whole(abs / HOUR), "hour");
  return unit(Math.max(1, whole(abs / MINUTE)), "minute");
}

/** "expires in 29 days", "expired 2 hours ago", "never expires", "revoked". */
export function expiryText(key: ApiKeyInfo, now: number): string {
  const state = keyState(key, now);
  if (state === "revoked") return "revoked";
  // `==`: a gateway older than key expiry sends no field at all.
  if (key.expires_at == null) return "never expires";
  if (state === "expired") return `expired ${span(now - key.expires_at)} ago`;
  return `expires in ${span(key.expires_at - now, "up")}`;
}

/** "3 days ago", or "never" for a key not used yet. */
export function lastUsedText(key: ApiKeyInfo, now: number): string {
  return key.last_used_at === null ? "never used" : `used ${span(now - key.last_used_at)} ago`;
}

/** Keys that work first, then expired, then revoked; the newest first within each. */
export function sortKeys(keys: ApiKeyInfo[], now: number): ApiKeyInfo[] {
  const order: Record<KeyState, number> = { active: 0, expired: 1, revoked: 2 };
  return [...keys].sort((a, b) => order[keyState(a, now)] - order[keyState(b, now)] || b.created_at - a.created_at);
}
