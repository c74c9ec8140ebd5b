import { describe, expect, it } from "vitest";
import type { TreeEntry } from "../generated/TreeEntry";
import { joinPath, mergeTree, parentOf, sortEntries } from "./tree";

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
});
