/** The mux frames as the browser sends and receives them: the generated wire types. Every
 * frame names the session it is for (`session_id`), which the gateway routes it by. */
import type { ClientFrame } from "../generated/ClientFrame";
import type { ServerFrame } from "../generated/ServerFrame";
import type { Event } from "../generated/Event";

export type { ClientFrame, ServerFrame };

export type OutgoingFrame = ClientFrame;

/** A server frame of the agent channel. */
export type AgentFrame = Extract<ServerFrame, { channel: "agent" }>;

/** One agent event kind, e.g. `EventOf<"stream.text_delta">`. */
export type EventOf<K extends Event["event"]> = Extract<AgentFrame, { event: K }>;

/** The session a server frame belongs to (every runner frame names it). */
export function frameSession(frame: ServerFrame): string | undefined {
  const session = (frame as { session_id?: unknown }).session_id;
  return typeof session === "string" ? session : undefined;
}

/** Parses a server frame; `null` for what is not a JSON object with a known channel. */
export function parseServerFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const channel = (value as { channel?: unknown }).channel;
  if (
    channel !== "agent" &&
    channel !== "files" &&
    channel !== "terminal" &&
    channel !== "browser" &&
    channel !== "hstry" &&
    channel !== "system"
  ) {
    return null;
  }
  return value as ServerFrame;
}
