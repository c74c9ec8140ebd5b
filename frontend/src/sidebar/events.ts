/** "The sessions changed" (created, renamed, deleted here), so the sidebar reloads at once
 * instead of at its next poll. */
const EVENT = "oqto:sessions-changed";

export function sessionsChanged(): void {
  window.dispatchEvent(new Event(EVENT));
}

export function onSessionsChanged(listener: () => void): () => void {
  window.addEventListener(EVENT, listener);
  return () => window.removeEventListener(EVENT, listener);
}
