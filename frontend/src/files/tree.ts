/** The file tree as the UI keeps it: entries by path, children loaded on demand. */
import type { TreeEntry } from "../generated/TreeEntry";

/** Puts `children` (a `tree_result` for `path`) into `entries`; the root when `path` is "". */
export function mergeTree(entries: TreeEntry[], path: string, children: TreeEntry[]): TreeEntry[] {
  if (path === "" || path === ".") return children;
  return entries.map((entry) => {
    if (entry.path === path) return { ...entry, children };
    if (entry.children && path.startsWith(`${entry.path}/`)) {
      return { ...entry, children: mergeTree(entry.children, path, children) };
    }
    return entry;
  });
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
