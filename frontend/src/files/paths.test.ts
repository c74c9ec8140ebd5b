import { describe, expect, it } from "vitest";
import { ancestors, byLevel, isSameOrInside, moveTargets, planNewFolder, planRename, remapPath } from "./paths";

const file = (path: string) => ({ path, type: "file" });
const dir = (path: string) => ({ path, type: "directory" });

describe("rename, move and new folder targets", () => {
  it("renames in place or moves into another folder", () => {
    expect(planRename(file("notes.txt"), "", "plan.txt")).toEqual({ path: "plan.txt" });
    expect(planRename(file("draft.txt"), "docs", "plan.txt")).toEqual({ path: "docs/plan.txt" });
    expect(planRename(file("docs/plan.txt"), "", "plan.txt")).toEqual({ path: "plan.txt" });
    expect(planRename(dir("a/b"), "a", "c")).toEqual({ path: "a/c" });
  });

  it("refuses bad names and moves that change nothing or go into themselves", () => {
    expect(planRename(file("x"), "", "a/b")).toHaveProperty("error", expect.stringMatching(/“\/”/));
    expect(planRename(file("x"), "", "..")).toHaveProperty("error", expect.stringMatching(/not a name/));
    expect(planRename(file("docs/x"), "docs", "x")).toHaveProperty("error", expect.stringMatching(/already its name/));
    expect(planRename(dir("a"), "a", "b")).toHaveProperty("error", expect.stringMatching(/into itself/));
    expect(planRename(dir("a"), "a/b", "c")).toHaveProperty("error", expect.stringMatching(/into itself/));
    // A sibling whose name starts the same is not inside.
    expect(planRename(dir("a"), "ab", "a")).toEqual({ path: "ab/a" });
  });

  it("puts a new folder in the chosen folder, or refuses its name", () => {
    expect(planNewFolder("", "docs")).toEqual({ path: "docs" });
    expect(planNewFolder("docs", "img")).toEqual({ path: "docs/img" });
    expect(planNewFolder("docs", "")).toHaveProperty("error", expect.stringMatching(/Enter a name/));
    expect(planNewFolder("", "a/b")).toHaveProperty("error", expect.stringMatching(/“\/”/));
  });

  it("moves paths held by the page along with a renamed folder, and only those", () => {
    expect(remapPath("a", "a", "b")).toBe("b");
    expect(remapPath("a/x/y.md", "a", "docs/b")).toBe("docs/b/x/y.md");
    expect(remapPath("ab/x", "a", "b")).toBe("ab/x");
    expect(remapPath("other", "a", "b")).toBe("other");
  });

  it("knows what is inside a folder", () => {
    expect(isSameOrInside("a", "a")).toBe(true);
    expect(isSameOrInside("a/b", "a")).toBe(true);
    expect(isSameOrInside("ab", "a")).toBe(false);
  });

  it("offers a folder every other folder to move to, never itself or its subfolders", () => {
    const all = ["", "a", "a/b", "ab", "c"];
    expect(moveTargets(all, dir("a"))).toEqual(["", "ab", "c"]);
    expect(moveTargets(all, file("a/b/f.txt"))).toEqual(all);
  });

  it("lists the folders above a path, top first", () => {
    expect(ancestors("a/b/c.txt")).toEqual(["a", "a/b"]);
    expect(ancestors("c.txt")).toEqual([]);
  });

  it("orders folders to reload by depth, parents before children", () => {
    expect(byLevel(["a/b/c", "x", "a", "a/b", ""])).toEqual([["x", "a"], ["a/b"], ["a/b/c"]]);
    expect(byLevel(["a/b"])).toEqual([["a/b"]]);
    expect(byLevel([])).toEqual([]);
  });
});
