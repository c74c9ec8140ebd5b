import { describe, expect, it } from "vitest";
import type { ApiKeyInfo } from "../api/rest";
import { EXPIRY_CHOICES, DEFAULT_EXPIRY_DAYS, expiryText, keyState, lastUsedText, sortKeys, span } from "./keys";

const NOW = 1_700_000_000_000;
const DAY = 86_400_000;
const key = (fields: Partial<ApiKeyInfo>): ApiKeyInfo => ({
  id: "k",
  name: "ci",
  prefix: "octo_sk_abcd",
  created_at: NOW - DAY,
  last_used_at: null,
  revoked_at: null,
  expires_at: null,
  ...fields,
});

describe("API keys as the account page shows them", () => {
  it("is active until it expires or is revoked; revoked wins", () => {
    expect(keyState(key({}), NOW)).toBe("active");
    expect(keyState(key({ expires_at: NOW + 1 }), NOW)).toBe("active");
    expect(keyState(key({ expires_at: NOW }), NOW)).toBe("expired");
    expect(keyState(key({ expires_at: NOW - DAY, revoked_at: NOW - 2 * DAY }), NOW)).toBe("revoked");
  });
  it("says when it expires in whole units: time left rounded up, time past down", () => {
    expect(expiryText(key({ expires_at: NOW + 30 * DAY - 5000 }), NOW)).toBe("expires in 30 days");
    expect(expiryText(key({ expires_at: NOW + DAY }), NOW)).toBe("expires in 1 day");
    expect(expiryText(key({ expires_at: NOW + DAY + 1 }), NOW)).toBe("expires in 2 days");
    expect(expiryText(key({ expires_at: NOW + 3 * 3_600_000 - 1 }), NOW)).toBe("expires in 3 hours");
    expect(expiryText(key({ expires_at: NOW + 10_000 }), NOW)).toBe("expires in 1 minute");
    expect(expiryText(key({ expires_at: NOW - 2 * DAY - 5000 }), NOW)).toBe("expired 2 days ago");
    expect(expiryText(key({}), NOW)).toBe("never expires");
    expect(expiryText(key({ revoked_at: NOW, expires_at: NOW + DAY }), NOW)).toBe("revoked");
    expect(span(-90 * 60_000)).toBe("1 hour");
  });
  it("says when it was used last", () => {
    expect(lastUsedText(key({}), NOW)).toBe("never used");
    expect(lastUsedText(key({ last_used_at: NOW - 5 * 60_000 }), NOW)).toBe("used 5 minutes ago");
  });
  it("lists working keys first, newest first", () => {
    const keys = [
      key({ id: "revoked", revoked_at: NOW, created_at: NOW - 1 }),
      key({ id: "old", created_at: NOW - 3 * DAY }),
      key({ id: "expired", expires_at: NOW - 1, created_at: NOW - 2 }),
      key({ id: "new", created_at: NOW - 2 * DAY }),
    ];
    expect(sortKeys(keys, NOW).map((k) => k.id)).toEqual(["new", "old", "expired", "revoked"]);
    expect(keys[0]?.id).toBe("revoked"); // the list given is left as it was
  });
  it("offers the default lifetime and a key without expiry", () => {
    expect(EXPIRY_CHOICES.some((c) => c.days === DEFAULT_EXPIRY_DAYS)).toBe(true);
    expect(EXPIRY_CHOICES.some((c) => c.days === null)).toBe(true);
    // Within what the gateway accepts (1 to 3650 days).
    for (const c of EXPIRY_CHOICES) if (c.days !== null) expect(c.days).toBeGreaterThanOrEqual(1);
  });
});
