import { describe, expect, it } from "vitest";
import type { Account } from "../api/rest";
import { filterUsers, isActiveAdmin, lastAdminProblem, sortUsers } from "./users";

const user = (username: string, role: Account["role"] = "user", disabled = false): Account => ({
  id: username,
  username,
  role,
  disabled,
  created_at: 0,
});

describe("the admin page's rules", () => {
  it("counts only admins that are not disabled as active", () => {
    expect(isActiveAdmin(user("a", "admin"))).toBe(true);
    expect(isActiveAdmin(user("a", "admin", true))).toBe(false);
    expect(isActiveAdmin(user("a"))).toBe(false);
  });
  it("refuses what takes away the last active admin, and only that", () => {
    const root = user("root", "admin");
    const off = user("off", "admin", true);
    const carol = user("carol");
    const users = [root, off, carol];
    for (const change of [{ role: "user" as const }, { disabled: true }, "delete" as const]) {
      expect(lastAdminProblem(users, root, change)).toMatch(/root is the last active admin/);
    }
    expect(lastAdminProblem(users, root, { role: "admin", disabled: false })).toBeNull();
    expect(lastAdminProblem(users, carol, "delete")).toBeNull();
    expect(lastAdminProblem(users, off, { role: "user" })).toBeNull();
    // With a second active admin either may go.
    expect(lastAdminProblem([...users, user("ops", "admin")], root, { role: "user" })).toBeNull();
  });
  it("finds users by part of their name, in any case", () => {
    const users = [user("carol"), user("caroline"), user("bob")];
    expect(filterUsers(users, " CAR ").map((u) => u.username)).toEqual(["carol", "caroline"]);
    expect(filterUsers(users, "")).toHaveLength(3);
  });
  it("puts the active admins first, then everyone by name", () => {
    const users = [user("zed", "admin"), user("bob"), user("amy", "admin", true), user("root", "admin")];
    expect(sortUsers(users).map((u) => u.username)).toEqual(["root", "zed", "amy", "bob"]);
  });
});
