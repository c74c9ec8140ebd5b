/**
 * `delegate`: a tool with which the agent hands a task to a sub-agent and waits for its answer.
 *
 * Loaded by every Pi of the runner image (pi-bridge `--pi-extension`, set in the Containerfile).
 * The sub-agent is a child Session in the same Workspace (same files), started by pi-bridge
 * through the gateway: the tool asks pi-bridge's delegate API on loopback
 * ($PI_BRIDGE_DELEGATE_LISTEN, which pi-bridge sets for its Pi; empty when it serves none) and
 * polls until the child has answered. pi-bridge drives the child's turn and shows it to the
 * parent's pages as `delegate.*` events. Stopping the run stops the sub-agent; an answer that
 * takes longer than WAIT_LIMIT_MS is given up on.
 *
 * No imports: the same file loads in both Pi lines the project supports (0.73 and 0.87, whose
 * packages have different names), and the parameters are plain JSON Schema, which both accept.
 * `fetch` is Node's own.
 */

const DEFAULT_LISTEN = "127.0.0.1:8081";
const POLL_MS = 300;
const WAIT_LIMIT_MS = 30 * 60_000;
/** pi-bridge's own limit on a prompt. */
const MAX_TASK_CHARS = 65_536;

type Text = { type: "text"; text: string };
type Details = { id: string | null; session: string | null; state: string };
type Result = { content: Text[]; details: Details };
type Status = { id: string; session: string | null; state: string; answer?: string; error?: string };

/** The delegate API's root, or null when pi-bridge says it serves none. */
function apiRoot(): string | null {
  const listen: unknown = (globalThis as any).process?.env?.PI_BRIDGE_DELEGATE_LISTEN;
  if (typeof listen !== "string") return `http://${DEFAULT_LISTEN}`;
  if (listen.trim() === "") return null;
  return `http://${listen.trim()}`;
}

/** A JSON request to the delegate API: its body, or an Error with the API's reason. */
async function call(root: string, method: "GET" | "POST", path: string, body?: unknown): Promise<any> {
  let response: Response;
  try {
    response = await fetch(`${root}${path}`, {
      method,
      headers: {
        // The API's secret, which pi-bridge gives its Pi alone (others share the loopback).
        authorization: `Bearer ${(globalThis as any).process?.env?.PI_BRIDGE_DELEGATE_TOKEN ?? ""}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`delegate: pi-bridge's delegate API at ${root} does not answer (${(e as Error)?.message ?? e})`);
  }
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    // Not JSON: the raw text is the reason below.
  }
  if (!response.ok) {
    const reason = typeof parsed?.error === "string" ? parsed.error : text || response.statusText;
    throw new Error(`delegate: ${reason}`);
  }
  return parsed;
}

/** Resolves after `ms`, or early when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

// `any`: Pi's ExtensionAPI type lives in a package whose name differs between the lines.
export default function delegate(pi: any) {
  pi.registerTool({
    name: "delegate",
    label: "Delegate to a sub-agent",
    description:
      "Start a sub-agent that works on a task on its own and return its final answer. The sub-agent " +
      "runs in a new session of this same workspace (it sees and may change the same files) but does " +
      "not see this conversation: write `task` so it is self-contained (goal, relevant paths, what to " +
      "report back). Use it for a well-separated piece of work; it can take minutes. Optionally name " +
      "the `model` the sub-agent uses.",
    parameters: {
      type: "object",
      properties: {
        task: { type: "string", description: "What the sub-agent should do and report, self-contained." },
        model: { type: "string", description: "The sub-agent's model; leave out for the workspace's default." },
      },
      required: ["task"],
      additionalProperties: false,
    },
    async execute(_toolCallId: string, params: any, signal: AbortSignal | undefined, onUpdate: unknown, _ctx: unknown) {
      const task = typeof params?.task === "string" ? params.task.trim() : "";
      const model = typeof params?.model === "string" && params.model.trim() !== "" ? params.model.trim() : undefined;
      if (!task) throw new Error("delegate: `task` must not be empty");
      if (task.length > MAX_TASK_CHARS) throw new Error(`delegate: \`task\` is longer than ${MAX_TASK_CHARS} characters`);
      const root = apiRoot();
      if (root === null) {
        throw new Error("delegate: sub-agents are not available in this runner (pi-bridge serves no delegate API)");
      }
      if (signal?.aborted) throw new Error("delegate: stopped before the sub-agent started");

      const started = await call(root, "POST", "/delegate/start", model === undefined ? { prompt: task } : { prompt: task, model });
      const id: string = String(started?.id ?? "");
      const session: string | null = typeof started?.session === "string" ? started.session : null;
      if (!id) throw new Error("delegate: pi-bridge did not name the delegation");
      if (typeof onUpdate === "function") {
        const working: Result = {
          content: [{ type: "text", text: `Sub-agent ${session ?? id} is working on the task…` }],
          details: { id, session, state: "running" },
        };
        try {
          (onUpdate as (partial: Result) => void)(working);
        } catch {
          // Progress is a courtesy; the answer is what counts.
        }
      }

      const stop = () => call(root, "POST", `/delegate/stop/${encodeURIComponent(id)}`).catch(() => undefined);
      const giveUpAt = Date.now() + WAIT_LIMIT_MS;
      for (;;) {
        await pause(POLL_MS, signal);
        if (signal?.aborted) {
          await stop();
          throw new Error("delegate: stopped; the sub-agent was stopped too");
        }
        if (Date.now() > giveUpAt) {
          await stop();
          throw new Error(`delegate: the sub-agent gave no answer within ${WAIT_LIMIT_MS / 60_000} minutes and was stopped`);
        }
        const status: Status = await call(root, "GET", `/delegate/status/${encodeURIComponent(id)}`);
        switch (status?.state) {
          case "running":
            continue;
          case "done": {
            const answer = typeof status.answer === "string" && status.answer.trim() !== "" ? status.answer : "(the sub-agent finished without a text answer)";
            const result: Result = { content: [{ type: "text", text: answer }], details: { id, session: status.session ?? session, state: "done" } };
            return result;
          }
          case "cancelled":
            throw new Error(`delegate: the sub-agent was stopped${status.error ? ` (${status.error})` : ""}`);
          case "failed":
            throw new Error(`delegate: the sub-agent failed: ${status.error ?? "no reason given"}`);
          default:
            throw new Error(`delegate: pi-bridge reported an unknown state ${JSON.stringify(status?.state)}`);
        }
      }
    },
  });
}
