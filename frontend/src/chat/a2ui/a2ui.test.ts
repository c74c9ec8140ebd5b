import { describe, expect, it } from "vitest";
import { MessageProcessor, type A2uiMessage } from "@a2ui/web_core/v0_9";
import type { ReactComponentImplementation } from "@a2ui/react/v0_9";
import { chatReducer, initialChat, type ChatState } from "../reducer";
import type { AgentFrame } from "../../mux/frames";
import type { Message } from "../../generated/Message";
import { recorded } from "../../test/recorded";
import { actionPrompt, ACTION_PREFIX, createdBy, kindOf, surfaceCalls, type SurfaceCall as SurfaceCallLike } from "./messages";
import { catalog, REFUSED_FUNCTIONS, str } from "./catalog";
import { problem } from "../../../../runner-image/pi-extensions/a2ui";
import { feed, type Surfaces } from "./Surfaces";

// The real bridge, the real Pi and the runner image's `show_ui` extension answering the demo's
// "show me a form" (runner-image/pi-bridge/tests/frontend_recordings.rs), then its history.
const frames = recorded("a2ui-session.jsonl").filter((f): f is AgentFrame => f.channel === "agent");

function live(): ChatState {
  let state = chatReducer(initialChat, { type: "sent", clientId: "client-p1", text: "show me a form" });
  for (const frame of frames) {
    if (frame.event === "response" && frame.cmd === "get_messages") break;
    state = chatReducer(state, { type: "event", frame });
  }
  return state;
}

function history(): Message[] {
  const reply = frames.find((f) => f.event === "response" && f.cmd === "get_messages") as unknown as { data: { messages: Message[] } };
  return reply.data.messages;
}

function surfaces(): Surfaces {
  return {
    processor: new MessageProcessor<ReactComponentImplementation>([catalog]),
    created: new Map(),
    errors: new Map(),
  };
}

describe("A2UI surfaces from the agent's show_ui calls", () => {
  it("takes the surface from the streamed call, and the same from the stored history", () => {
    const streamed = surfaceCalls(live().messages);
    expect(streamed).toHaveLength(1);
    const [call] = streamed;
    expect(call!.messages.map((m) => kindOf(m)?.kind)).toEqual(["createSurface", "updateComponents", "updateDataModel"]);
    // A reload shows the same surface: the messages are the stored call's input.
    const reloaded = surfaceCalls(chatReducer(initialChat, { type: "history", messages: history() }).messages);
    expect(reloaded).toEqual(streamed);
    expect(createdBy(streamed)).toEqual(new Map([[call!.toolCallId, ["signup"]]]));
  });

  it("builds the form with its components and data, once however often it is fed", () => {
    const calls = surfaceCalls(live().messages);
    const into = surfaces();
    const fed = new Set<string>();
    feed(into, fed, calls);
    feed(into, fed, calls);
    const surface = into.processor.model.getSurface("signup");
    expect(surface).toBeDefined();
    const components = ["root", "form", "title", "name_field", "colour", "terms_box", "submit_label", "submit"];
    for (const id of components) expect(surface!.componentsModel.get(id), id).toBeDefined();
    expect(surface!.componentsModel.get("name_field")!.type).toBe("TextField");
    expect(surface!.dataModel.get("/form")).toEqual({ name: "", colour: ["green"], accepted: false });
    expect(into.errors.size).toBe(0);
  });

  it("applies later updates and closes a deleted surface", () => {
    const call = surfaceCalls(live().messages)[0]!;
    const into = surfaces();
    const fed = new Set<string>();
    const update: A2uiMessage = { version: "v0.9", updateDataModel: { surfaceId: "signup", path: "/form/name", value: "Grace" } };
    const close: A2uiMessage = { version: "v0.9", deleteSurface: { surfaceId: "signup" } };
    feed(into, fed, [call, { toolCallId: "later", messages: [update] }]);
    expect(into.processor.model.getSurface("signup")!.dataModel.get("/form/name")).toBe("Grace");
    feed(into, fed, [call, { toolCallId: "later", messages: [update] }, { toolCallId: "close", messages: [close] }]);
    expect(into.processor.model.getSurface("signup")).toBeUndefined();
    // Still listed as the first call's surface: the card says it was closed.
    expect(into.created.get(call.toolCallId)).toEqual(["signup"]);
  });

  it("keeps a bad message to its own call", () => {
    const into = surfaces();
    const orphan: A2uiMessage = {
      version: "v0.9",
      updateComponents: { surfaceId: "nowhere", components: [{ id: "root", component: "Text", text: "x" }] },
    };
    feed(into, new Set(), [{ toolCallId: "bad", messages: [orphan] }, ...surfaceCalls(live().messages)]);
    expect(into.errors.get("bad")).toBeTruthy();
    expect(into.processor.model.getSurface("signup")).toBeDefined();
  });

  it("ignores calls the tool refused or never ran, and what is not an A2UI message", () => {
    const state = live();
    const refused = structuredClone(state.messages);
    for (const m of refused) for (const p of m.parts) if (p.kind === "tool") p.status = "error";
    expect(surfaceCalls(refused)).toEqual([]);
    // A stored call cut off before its result is marked done by the history: not shown.
    const unrun = structuredClone(state.messages);
    for (const m of unrun) for (const p of m.parts) if (p.kind === "tool") p.output = undefined;
    expect(surfaceCalls(unrun)).toEqual([]);
    expect(kindOf({ version: "v0.8", createSurface: { surfaceId: "x" } })).toBeNull();
    expect(kindOf({ version: "v0.9", createSurface: { surfaceId: "x" }, deleteSurface: { surfaceId: "x" } })).toBeNull();
    expect(kindOf({ version: "v0.9", beginRendering: { surfaceId: "x" } })).toBeNull();
  });

  it("replaces a surface made again, shown under the call that made it last", () => {
    const call = surfaceCalls(live().messages)[0]!;
    const again: SurfaceCallLike = { toolCallId: "again", messages: call.messages };
    const into = surfaces();
    feed(into, new Set(), [call, again]);
    expect(into.errors.size).toBe(0);
    expect(into.created).toEqual(new Map([["again", ["signup"]]]));
    expect(into.processor.model.getSurface("signup")).toBeDefined();
  });

  it("renders any bound value as text and offers no function that acts by itself", () => {
    expect(str({ nested: 1 })).toBe('{"nested":1}');
    expect(str(undefined)).toBe("");
    expect(str(3)).toBe("3");
    for (const name of REFUSED_FUNCTIONS) expect(catalog.functions.has(name), name).toBe(false);
    expect(catalog.functions.has("required")).toBe(true);
  });

  it("is refused by the tool when it would act without the user or take their words", () => {
    const form = surfaceCalls(live().messages)[0]!.messages;
    expect(problem(form)).toBeNull();
    const withComponent = (component: Record<string, unknown>) => [
      { version: "v0.9", updateComponents: { surfaceId: "s", components: [{ id: "root", ...component }] } },
    ];
    expect(problem(withComponent({ component: "Text", text: { call: "openUrl", args: { url: "https://x" } } }))).toContain("openUrl is not offered");
    expect(problem(withComponent({ component: "TextField", label: "pw", variant: "obscured" }))).toContain("no password fields");
    expect(
      problem(withComponent({ component: "Button", child: "t", action: { event: { name: "go", context: { said: "I agree to everything" } } } })),
    ).toContain('context.said must be {"path": "/..."}');
    expect(problem(withComponent({ component: "Button", child: "t", action: { functionCall: { call: "openUrl" } } }))).toContain("event.name");
    expect(problem(withComponent({ component: "Script" }))).toContain("component must be one of");
    expect(problem([{ version: "v0.9", createSurface: { surfaceId: "../x" } }])).toContain("surfaceId must match");
  });

  it("sends an action back as a message the agent reads", () => {
    const text = actionPrompt({
      name: "submit_signup",
      surfaceId: "signup",
      sourceComponentId: "submit",
      timestamp: "2026-12-04T21:00:00.000Z",
      context: { name: "Ada", colour: ["blue"], accepted: true },
    });
    expect(text.startsWith(`${ACTION_PREFIX} `)).toBe(true);
    const sent = JSON.parse(text.slice(ACTION_PREFIX.length + 1));
    expect(sent).toEqual({
      version: "v0.9",
      action: {
        name: "submit_signup",
        surfaceId: "signup",
        sourceComponentId: "submit",
        timestamp: "2026-12-04T21:00:00.000Z",
        context: { name: "Ada", colour: ["blue"], accepted: true },
      },
    });
    // The demo model's rule for this action matches on the name as it is sent.
    expect(text).toContain('"name":"Ada"');
  });
});
