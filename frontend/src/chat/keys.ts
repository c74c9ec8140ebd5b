/** What a key in the message box does: send (and how), stop the agent, or nothing (typing). */
export type SendMode = "prompt" | "steer" | "follow_up";
export type KeyAction = { send: SendMode } | "abort" | null;

export function composerKey(
  key: { key: string; shiftKey: boolean; altKey: boolean; composing: boolean },
  working: boolean,
): KeyAction {
  if (key.key === "Enter" && !key.shiftKey && !key.composing) {
    // While the agent works, Enter steers it; Alt+Enter queues a follow-up.
    return { send: working ? (key.altKey ? "follow_up" : "steer") : "prompt" };
  }
  if (key.key === "Escape" && working) return "abort";
  return null;
}
