/** The file tree as the UI keeps it: entries by path, children loaded on demand. */
import type { TreeEntry } from "../generated/TreeEntry";

/** Puts `children` (a `tree_result` for `path`) into `entries`; the root when `path` is "".
 * A listing one level deep says nothing about grandchildren: a directory that comes back without
 * children keeps the ones loaded before, so a refresh that lists a parent after its expanded
 * subfolder (the replies race) does not empty that subfolder. */
export function mergeTree(entries: TreeEntry[], path: string, children: TreeEntry[]): TreeEntry[] {
  if (path === "" || path === ".") return keepLoaded(entries, children);
  return entries.map((entry) => {
    if (entry.path === path) return { ...entry, children: keepLoaded(entry.children ?? [], children) };
    if (entry.children && path.startsWith(`${entry.path}/`)) {
      return { ...entry, children: mergeTree(entry.children, path, children) };
    }
    return entry;
  });
}

function keepLoaded(before: TreeEntry[], fresh: TreeEntry[]): TreeEntry[] {
  const loaded = new Map(before.filter((e) => e.type === "directory" && e.children).map((e) => [e.path, e.children]));
  return fresh.map((entry) => {
    if (entry.type !== "directory") return entry;
    if (entry.children) return { ...entry, children: keepLoaded(loaded.get(entry.path) ?? [], entry.children) };
    const kept = loaded.get(entry.path);
    return kept ? { ...entry, children: kept } : entry;
  });
}

/** Every directory loaded so far, the workspace root ("") first: where a file can be moved. */
export function folders(entries: TreeEntry[]): string[] {
  const found: string[] = [];
  const walk = (list: TreeEntry[]) => {
    for (const entry of list) {
      if (entry.type !== "directory") continue;
      found.push(entry.path);
      if (entry.children) walk(entry.children);
    }
  };
  walk(entries);
  return ["", ...found.sort((a, b) => a.localeCompare(b))];
}

/** Directories first, then by name, as file browsers do. */
export function sortEntries(entries: TreeEntry[]): TreeEntry[] {
  return [...entries].sort((a, b) => {
    const dirA = a.type === "directory" ? 0 : 1;
    const dirB = b.type === "directory" ? 0 : 1;
    return dirA - dirB || a.name.localeCompare(b.name);
  });
}

export function parentOf(path: string): string {
  const index = path.lastIndexOf("/");
  return index < 0 ? "" : path.slice(0, index);
}

export function joinPath(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}
