/** The A2UI messages of a conversation (https://a2ui.org/specification/v0.9/): the agent sends
 * them as the input of its `show_ui` tool (runner-image/pi-extensions/a2ui.ts), so they are
 * stored with the turn and a reload shows the same surfaces. Only calls the tool accepted count:
 * a call it refused told the agent what was wrong, and the agent sends them again. */
import type { A2uiClientAction, A2uiMessage } from "@a2ui/web_core/v0_9";
import { toolOutputText, type ChatMessage } from "../reducer";

export const SHOW_UI_TOOL = "show_ui";
/** What starts the user's message that carries an action back to the agent. */
export const ACTION_PREFIX = "[a2ui action]";
/** How the tool's result begins when it accepted the messages (runner-image/pi-extensions/a2ui.ts). */
const ACCEPTED = "Shown to the user:";

/** One accepted `show_ui` call: its id (where its surfaces show) and its messages, in order. */
export interface SurfaceCall {
  toolCallId: string;
  messages: A2uiMessage[];
}

const KINDS = ["createSurface", "updateComponents", "updateDataModel", "deleteSurface"] as const;

/** A message's kind and surface, or null for what is not an A2UI v0.9 message. */
export function kindOf(message: unknown): { kind: (typeof KINDS)[number]; surfaceId: string } | null {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return null;
  const m = message as Record<string, unknown>;
  if (m.version !== "v0.9" && m.version !== "v0.9.1") return null;
  const keys = Object.keys(m).filter((k) => k !== "version");
  const kind = KINDS.find((k) => k === keys[0]);
  if (keys.length !== 1 || !kind) return null;
  const body = m[kind] as Record<string, unknown> | null;
  if (typeof body !== "object" || body === null || typeof body.surfaceId !== "string") return null;
  return { kind, surfaceId: body.surfaceId };
}

/** Every accepted `show_ui` call of the conversation, oldest first: its result says the tool
 * took the messages (a stored call without a result, cut off before the tool ran, is not). */
export function surfaceCalls(messages: ChatMessage[]): SurfaceCall[] {
  const calls: SurfaceCall[] = [];
  for (const message of messages) {
    for (const part of message.parts) {
      if (part.kind !== "tool" || part.name !== SHOW_UI_TOOL || part.status !== "success") continue;
      if (!toolOutputText(part.output).startsWith(ACCEPTED)) continue;
      const input = part.input as { messages?: unknown } | undefined;
      if (!Array.isArray(input?.messages)) continue;
      const valid = input.messages.filter((m) => kindOf(m) !== null) as unknown as A2uiMessage[];
      if (valid.length > 0) calls.push({ toolCallId: part.toolCallId, messages: valid });
    }
  }
  return calls;
}

/** The surfaces each call created, so each shows where the agent laid it out; a surface made
 * again (the same id) shows only under the call that made it last. */
export function createdBy(calls: SurfaceCall[]): Map<string, string[]> {
  const lastMaker = new Map<string, string>();
  for (const call of calls) {
    for (const message of call.messages) {
      const seen = kindOf(message);
      if (seen?.kind === "createSurface") lastMaker.set(seen.surfaceId, call.toolCallId);
    }
  }
  const created = new Map<string, string[]>();
  for (const [surface, call] of lastMaker) created.set(call, [...(created.get(call) ?? []), surface]);
  return created;
}

/** The user's message for an action: the prefix the tool's description names, then the action
 * as the spec's client-to-server message has it (name, surface, component, time, context). */
export function actionPrompt(action: A2uiClientAction): string {
  const { name, surfaceId, sourceComponentId, timestamp, context } = action;
  return `${ACTION_PREFIX} ${JSON.stringify({ version: "v0.9", action: { name, surfaceId, sourceComponentId, timestamp, context } })}`;
}
