/** What the gateway accepts, checked where it is typed (the gateway checks again and names the
 * field): `gateway/src/accounts/mod.rs` (`check_username`), `accounts/password.rs` and the key
 * name rule of `api/users.rs`. Each function gives the problem, or null when there is none. */

export const PASSWORD_MIN_CHARS = 8;
/** Hashing cost grows with the length, so the gateway refuses longer ones before hashing. */
export const PASSWORD_MAX_BYTES = 1024;
export const KEY_NAME_MAX_CHARS = 100;

/** Characters as Rust counts them (code points), not UTF-16 units. */
const chars = (text: string) => Array.from(text).length;
const bytes = (text: string) => new TextEncoder().encode(text).length;

export function passwordProblem(password: string): string | null {
  if (chars(password) < PASSWORD_MIN_CHARS) return `at least ${PASSWORD_MIN_CHARS} characters`;
  if (bytes(password) > PASSWORD_MAX_BYTES) return `at most ${PASSWORD_MAX_BYTES} bytes`;
  return null;
}

export function repeatProblem(password: string, again: string): string | null {
  return again === password ? null : "the two passwords differ";
}

export function usernameProblem(name: string): string | null {
  if (name.length < 3 || name.length > 50) return "3 to 50 characters";
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) return "lowercase letters, digits, '_' and '-', starting with a letter or digit";
  return null;
}

export function keyNameProblem(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed.length === 0) return "give the key a name, e.g. what it is for";
  if (chars(trimmed) > KEY_NAME_MAX_CHARS) return `at most ${KEY_NAME_MAX_CHARS} characters`;
  return null;
}
