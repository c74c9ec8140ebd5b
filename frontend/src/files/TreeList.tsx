import type { ReactNode } from "react";
import type { TreeEntry } from "../generated/TreeEntry";
import { sortEntries } from "./tree";

/** One level of the file tree. Each entry has an actions button ("⋯"); its panel (`actions`)
 * opens under the entry. The button's name is "actions", not the file's: "notes.txt" stays the
 * one button of that name, for people with screen readers and for tests alike. */
export function TreeList({
  entries,
  expanded,
  selected,
  acting,
  onToggle,
  onOpen,
  onActions,
  actions,
}: {
  entries: TreeEntry[];
  expanded: Set<string>;
  selected?: string;
  /** The entry whose actions are open. */
  acting: string | null;
  onToggle: (entry: TreeEntry) => void;
  onOpen: (entry: TreeEntry) => void;
  onActions: (entry: TreeEntry) => void;
  actions: (entry: TreeEntry) => ReactNode;
}) {
  return (
    <ul className="tree-list" role="group">
      {sortEntries(entries).map((entry) => {
        const isDir = entry.type === "directory";
        const open = expanded.has(entry.path);
        return (
          <li key={entry.path}>
            <div className="tree-row">
              {isDir ? (
                <button type="button" className="tree-item" aria-expanded={open} onClick={() => onToggle(entry)}>
                  {open ? "▾" : "▸"} {entry.name}/
                </button>
              ) : (
                <button type="button" className={`tree-item${selected === entry.path ? " selected" : ""}`} onClick={() => onOpen(entry)} aria-current={selected === entry.path}>
                  {entry.name}
                </button>
              )}
              <button
                type="button"
                className="tree-more"
                aria-label="actions"
                aria-expanded={acting === entry.path}
                title={`Rename, move or delete ${entry.name}`}
                onClick={() => onActions(entry)}
              >
                ⋯
              </button>
            </div>
            {acting === entry.path && actions(entry)}
            {isDir && open && entry.children && (
              <TreeList
                entries={entry.children}
                expanded={expanded}
                selected={selected}
                acting={acting}
                onToggle={onToggle}
                onOpen={onOpen}
                onActions={onActions}
                actions={actions}
              />
            )}
          </li>
        );
      })}
    </ul>
  );
}
