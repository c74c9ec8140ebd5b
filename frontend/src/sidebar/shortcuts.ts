/** The keyboard shortcuts of the shell, as data (the help dialog lists them) and one pure
 * matcher (unit-tested): a key typed into a field is the field's, except the ones with a
 * modifier that no field uses. */
export type ShortcutAction = "search" | "new-session" | "next-session" | "previous-session" | "help";

export interface Shortcut {
  action: ShortcutAction;
  keys: string;
  description: string;
}

export const SHORTCUTS: Shortcut[] = [
  { action: "search", keys: "Ctrl K  or  /", description: "Find a session" },
  { action: "new-session", keys: "Alt N", description: "New session in the current workspace" },
  { action: "next-session", keys: "Alt ↓", description: "Next session" },
  { action: "previous-session", keys: "Alt ↑", description: "Previous session" },
  { action: "help", keys: "?", description: "This help" },
];

export interface KeyLike {
  key: string;
  code?: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
}

export function shortcutFor(event: KeyLike, typing: boolean): ShortcutAction | null {
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") return "search";
  if (event.altKey && !event.ctrlKey && !event.metaKey) {
    // Alt+N types a character on some layouts (macOS): the physical key decides.
    if (event.code === "KeyN" || event.key.toLowerCase() === "n") return "new-session";
    if (event.key === "ArrowDown") return "next-session";
    if (event.key === "ArrowUp") return "previous-session";
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.key === "/") return "search";
  if (event.key === "?") return "help";
  return null;
}

/** Whether keys go to a field the user types in. */
export function isTyping(target: EventTarget | null): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== "string") return false;
  const element = target as HTMLElement;
  const tag = element.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || element.isContentEditable || Boolean(element.closest?.(".terminal-host"));
}
