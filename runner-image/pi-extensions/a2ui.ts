/**
 * `show_ui`: a tool with which the agent lays out an interactive surface in the chat (A2UI v0.9:
 * https://a2ui.org/specification/v0.9/): a form, a table, a choice. The surface is data the web
 * UI renders with its own components, never code or HTML; the user's action (a button) comes
 * back to the agent as the user's next message, starting with `[a2ui action]` and the action's
 * JSON (its name, surface, component and the values it names).
 *
 * The messages travel as the tool call's input, which hstry stores with the turn, so a surface
 * survives a reload; the UI shows only calls this tool accepted. Checked here so the agent learns
 * what is wrong (the tool fails with the message and the agent can send them again): the
 * envelope, surface ids, component types of the basic catalogue, size, and what the UI does not
 * offer (functions that act without a click, password fields, actions other than events, and
 * action context that is not the user's input).
 *
 * No imports: the same file loads in both Pi lines the project supports (see ask-user.ts).
 */

const VERSIONS = ["v0.9", "v0.9.1"];
const KINDS = ["createSurface", "updateComponents", "updateDataModel", "deleteSurface"];
/** The basic catalogue's components this UI renders (Icon, Video, AudioPlayer, Modal, Slider and
 * DateTimeInput are refused: better an error the agent can act on than a blank). */
const COMPONENTS = [
  "Text",
  "Image",
  "Button",
  "TextField",
  "CheckBox",
  "ChoicePicker",
  "List",
  "Card",
  "Row",
  "Column",
  "Tabs",
  "Divider",
];
/** Functions of the basic catalogue the UI does not run: `openUrl` would open a window the user
 * did not ask for (a value is evaluated as soon as it is shown), `regex` an agent's pattern that
 * could hang the page. */
const REFUSED_FUNCTIONS = ["openUrl", "regex"];
const MAX_MESSAGES = 50;
const MAX_COMPONENTS = 200;
const MAX_BYTES = 64 * 1024;
const ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The first refused function call or password field anywhere in `value`, as a path. */
function refusedInside(value: unknown, at: string): string | null {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = refusedInside(item, `${at}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const object = value as Record<string, unknown>;
  if (typeof object.call === "string" && REFUSED_FUNCTIONS.includes(object.call))
    return `${at}.call: ${object.call} is not offered (${REFUSED_FUNCTIONS.join(", ")} are not)`;
  if ("functionCall" in object) return `${at}.functionCall: only event actions, which come back to you, are offered`;
  if (object.variant === "obscured") return `${at}.variant: no password fields (never ask the user for a secret)`;
  for (const [key, inner] of Object.entries(object)) {
    const found = refusedInside(inner, `${at}.${key}`);
    if (found) return found;
  }
  return null;
}

/** An action's problem: its name an id, every context value a binding to the user's input (a
 * literal would arrive as the user's words without the user having written them). */
function actionProblem(action: unknown, at: string): string | null {
  if (action === undefined) return null;
  const event = (action as { event?: { name?: unknown; context?: unknown } } | null)?.event;
  if (!event || typeof event.name !== "string" || !ID.test(event.name)) return `${at}.event.name must match ${ID}`;
  if (event.context === undefined) return null;
  if (typeof event.context !== "object" || event.context === null || Array.isArray(event.context))
    return `${at}.event.context must be an object`;
  for (const [key, value] of Object.entries(event.context)) {
    const path = (value as { path?: unknown } | null)?.path;
    if (typeof path !== "string" || Object.keys(value as object).length !== 1)
      return `${at}.event.context.${key} must be {"path": "/..."}: only what the user entered goes back`;
  }
  return null;
}

/** What is wrong with `messages`, or null. Exported for the UI's unit test of it. */
export function problem(messages: unknown): string | null {
  if (!Array.isArray(messages) || messages.length === 0) return "`messages` must be a non-empty array";
  if (messages.length > MAX_MESSAGES) return `at most ${MAX_MESSAGES} messages, not ${messages.length}`;
  if (JSON.stringify(messages).length > MAX_BYTES) return `the messages exceed ${MAX_BYTES} bytes`;
  for (const [i, message] of messages.entries()) {
    const at = `messages[${i}]`;
    if (typeof message !== "object" || message === null || Array.isArray(message)) return `${at} must be an object`;
    const m = message as Record<string, unknown>;
    if (!VERSIONS.includes(m.version as string)) return `${at}.version must be "v0.9"`;
    const kinds = Object.keys(m).filter((k) => k !== "version");
    const kind = kinds.length === 1 ? KINDS.find((k) => k === kinds[0]) : undefined;
    if (kind === undefined) return `${at} must have exactly one of ${KINDS.join(", ")}`;
    const body = m[kind] as Record<string, unknown> | null;
    if (typeof body !== "object" || body === null) return `${at}.${kind} must be an object`;
    if (typeof body.surfaceId !== "string" || !ID.test(body.surfaceId)) return `${at}.${kind}.surfaceId must match ${ID}`;
    if (kind === "updateComponents") {
      const components = body.components;
      if (!Array.isArray(components) || components.length === 0) return `${at}.updateComponents.components must be a non-empty array`;
      if (components.length > MAX_COMPONENTS) return `${at}.updateComponents: at most ${MAX_COMPONENTS} components`;
      for (const [j, component] of components.entries()) {
        const c = component as Record<string, unknown> | null;
        const where = `${at}.updateComponents.components[${j}]`;
        if (typeof c !== "object" || c === null) return `${where} must be an object`;
        if (typeof c.id !== "string" || !ID.test(c.id)) return `${where}.id must match ${ID}`;
        if (!COMPONENTS.includes(c.component as string)) return `${where}.component must be one of ${COMPONENTS.join(", ")}`;
        const wrongAction = actionProblem(c.action, `${where}.action`);
        if (wrongAction) return wrongAction;
      }
    }
    if (kind === "updateDataModel" && body.path !== undefined && (typeof body.path !== "string" || !body.path.startsWith("/")))
      return `${at}.updateDataModel.path must be a JSON Pointer starting with "/"`;
    const refused = refusedInside(body, `${at}.${kind}`);
    if (refused) return refused;
  }
  return null;
}

// `any`: Pi's ExtensionAPI type lives in a package whose name differs between the lines.
export default function a2ui(pi: any) {
  pi.registerTool({
    name: "show_ui",
    label: "Show an interface",
    description:
      "Show the user an interactive surface in the chat instead of a wall of text: a form to fill in, " +
      "a table, a choice. `messages` are A2UI v0.9 messages, each {\"version\":\"v0.9\", <one of " +
      "createSurface | updateComponents | updateDataModel | deleteSurface>}. createSurface {surfaceId, " +
      "catalogId:\"https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json\"}; updateComponents " +
      "{surfaceId, components:[{id, component, ...props}]}, a flat list in which one component has " +
      "id \"root\"; updateDataModel {surfaceId, path:\"/json/pointer\", value}. Components: " +
      COMPONENTS.join(", ") +
      " (Text{text, variant h1..h5|body|caption}; Button{child: the id of a Text, action:{event:{name, " +
      "context:{key:{path}}}}}; TextField{label, value:{path}}; CheckBox{label, value:{path}}; " +
      "ChoicePicker{label, options:[{label,value}], value:{path}}; Row/Column/List{children:[ids]}; " +
      "Card{child}; Tabs{tabs:[{title, child}]}). Inputs bind to the data model by {\"path\":\"/...\"}; " +
      "an action's context names only such bindings. No password fields, no openUrl or regex. " +
      "When the user presses a button you get a message starting with `[a2ui action]` with the " +
      "action's name and its context (the values it names): act on it.",
    parameters: {
      type: "object",
      properties: {
        messages: {
          type: "array",
          items: { type: "object" },
          description: "A2UI v0.9 messages, applied in order.",
        },
      },
      required: ["messages"],
      additionalProperties: false,
    },
    async execute(_toolCallId: string, params: any) {
      const wrong = problem(params?.messages);
      if (wrong) throw new Error(`show_ui: ${wrong}`);
      const surfaces = [
        ...new Set<string>(
          params.messages.map((m: Record<string, any>) => m[Object.keys(m).find((k) => k !== "version")!]?.surfaceId),
        ),
      ];
      return {
        content: [
          {
            type: "text",
            text: `Shown to the user: ${surfaces.join(", ")}. Their action arrives as a message starting with [a2ui action].`,
          },
        ],
        details: { surfaces },
      };
    },
  });
}
