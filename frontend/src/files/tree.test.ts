import { describe, expect, it } from "vitest";
import type { TreeEntry } from "../generated/TreeEntry";
import { folders, joinPath, mergeTree, parentOf, sortEntries } from "./tree";

const file = (path: string): TreeEntry => ({ name: path.split("/").pop()!, path, type: "file" });
const dir = (path: string, children?: TreeEntry[]): TreeEntry => ({ name: path.split("/").pop()!, path, type: "directory", children });

describe("file tree", () => {
  it("puts loaded children under their directory, however deep", () => {
    const tree = [dir("a", [dir("a/b")]), file("c.md")];
    const merged = mergeTree(tree, "a/b", [file("a/b/x.txt")]);
    expect(merged[0]!.children![0]!.children).toEqual([file("a/b/x.txt")]);
    expect(merged[1]).toBe(tree[1]);
    expect(mergeTree(tree, "", [file("new.md")])).toEqual([file("new.md")]);
  });

  it("lists directories first, then names", () => {
    expect(sortEntries([file("b"), dir("z"), file("a")]).map((e) => e.name)).toEqual(["z", "a", "b"]);
  });

  it("joins and splits paths relative to the workspace", () => {
    expect(joinPath("", "x")).toBe("x");
    expect(joinPath("a/b", "x")).toBe("a/b/x");
    expect(parentOf("a/b/x")).toBe("a/b");
    expect(parentOf("x")).toBe("");
  });

  it("keeps a loaded subfolder when its parent is listed again one level deep", () => {
    const tree = [dir("a", [dir("a/b", [file("a/b/x.txt")]), file("a/old.txt")])];
    // `a` listed again (depth 1): old.txt is gone, b comes back without children.
    const merged = mergeTree(tree, "a", [dir("a/b"), file("a/new.txt")]);
    expect(merged[0]!.children).toEqual([dir("a/b", [file("a/b/x.txt")]), file("a/new.txt")]);
    // The root listed again keeps deeper levels too, but what the listing left out is gone.
    const root = mergeTree(merged, "", [dir("a", [dir("a/b")])]);
    expect(root[0]!.children![0]!.children).toEqual([file("a/b/x.txt")]);
    expect(mergeTree(merged, "", [file("c.md")])).toEqual([file("c.md")]);
    // A listing that does carry children replaces the ones held.
    expect(mergeTree(tree, "a", [dir("a/b", [])])[0]!.children![0]!.children).toEqual([]);
  });

  it("lists every loaded folder, the top first, as places to move to", () => {
    const tree = [file("z.txt"), dir("b", [dir("b/c")]), dir("a")];
    expect(folders(tree)).toEqual(["", "a", "b", "b/c"]);
    expect(folders([])).toEqual([""]);
  });
});
