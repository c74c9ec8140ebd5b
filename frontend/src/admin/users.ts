import type { Account } from "../api/rest";

/** Who can act as an admin now: the admins not disabled. */
export function isActiveAdmin(user: Account): boolean {
  return user.role === "admin" && !user.disabled;
}

export type UserChange = { role?: Account["role"]; disabled?: boolean } | "delete";

/** The gateway's rule, to explain a refusal before it is asked: no change may take away the
 * last active admin. Null when the change is fine, else why not. */
export function lastAdminProblem(users: Account[], target: Account, change: UserChange): string | null {
  if (!isActiveAdmin(target)) return null;
  const after = change === "delete" ? null : { ...target, ...change };
  if (after && isActiveAdmin(after)) return null;
  const others = users.filter((u) => u.username !== target.username && isActiveAdmin(u)).length;
  return others === 0 ? `${target.username} is the last active admin; make another user admin first` : null;
}

/** The users whose name contains `query` (any case); all for an empty one. */
export function filterUsers(users: Account[], query: string): Account[] {
  const q = query.trim().toLowerCase();
  return q ? users.filter((u) => u.username.includes(q)) : users;
}

/** The admins first, then by name: the ones that matter most for access at the top. */
export function sortUsers(users: Account[]): Account[] {
  return [...users].sort((a, b) => Number(isActiveAdmin(b)) - Number(isActiveAdmin(a)) || a.username.localeCompare(b.username));
}
