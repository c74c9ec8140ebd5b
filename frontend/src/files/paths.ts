/** Where a rename, a move or a new folder lands, worked out (and refused) before it is sent, and
 * how paths the page holds (the open file, expanded folders) follow a rename or a delete. */
import { nameProblem } from "./names";
import { joinPath, parentOf } from "./tree";

export type Planned = { path: string } | { error: string };

/** Whether `path` is `dir` itself or somewhere below it. */
export function isSameOrInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** The new path of `from` (a file or a directory) renamed to `name` in `folder`. */
export function planRename(from: { path: string; type: string }, folder: string, name: string): Planned {
  const problem = nameProblem(name);
  if (problem) return { error: problem };
  const path = joinPath(folder, name);
  if (path === from.path) return { error: "That is already its name and folder." };
  // The kernel refuses it too (EINVAL), in words the user would not recognise.
  if (from.type === "directory" && isSameOrInside(folder, from.path)) return { error: "A folder cannot move into itself." };
  return { path };
}

/** The path of a new folder `name` in `folder`. */
export function planNewFolder(folder: string, name: string): Planned {
  const problem = nameProblem(name);
  return problem ? { error: problem } : { path: joinPath(folder, name) };
}

/** `path` after `from` became `to`: itself, or moved along with a renamed folder. */
export function remapPath(path: string, from: string, to: string): string {
  if (path === from) return to;
  return path.startsWith(`${from}/`) ? `${to}${path.slice(from.length)}` : path;
}

/** The folders `entry` may be moved to: all but itself and its own subfolders. */
export function moveTargets(folders: string[], entry: { path: string; type: string }): string[] {
  return entry.type === "directory" ? folders.filter((f) => f === "" || !isSameOrInside(f, entry.path)) : folders;
}

/** `path` and the folders above it, down from the top: what to expand to show `path`. */
export function ancestors(path: string): string[] {
  const chain: string[] = [];
  for (let dir = parentOf(path); dir; dir = parentOf(dir)) chain.unshift(dir);
  return chain;
}

/** Folders to list in the order a refresh can load them: a level's folders only once the level
 * above is listed, or a reply for `a/b/c` would find no `a/b` to go into. */
export function byLevel(dirs: Iterable<string>): string[][] {
  const levels: string[][] = [];
  for (const dir of dirs) {
    if (!dir) continue;
    const depth = dir.split("/").length - 1;
    (levels[depth] ??= []).push(dir);
  }
  return levels.filter((level) => level !== undefined);
}
