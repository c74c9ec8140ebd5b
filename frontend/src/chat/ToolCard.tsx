import { SessionLink } from "../session/SessionLink";
import type { SessionEntry } from "../sidebar/sessions";
import { DELEGATE_TOOL, delegateTask, mentionedSessions, type Delegation } from "./delegation";
import { Markdown } from "./Markdown";
import type { ChatPart } from "./reducer";
import { toolOutputText } from "./reducer";

type Tool = Extract<ChatPart, { kind: "tool" }>;

function inputText(tool: Tool): string {
  const input = tool.input as Record<string, unknown> | undefined;
  if (input && typeof input === "object") {
    if (typeof input.command === "string") return input.command;
    return JSON.stringify(input, null, 2);
  }
  return tool.inputText;
}

const STATUS: Record<Tool["status"], string> = {
  pending: "preparing",
  running: "running",
  success: "done",
  error: "failed",
};

/** What a card knows of the session's sub-agents, for `delegate` calls. */
export interface SubAgents {
  workspace?: string;
  children: SessionEntry[];
}

/** A tool call: its name and status, its input, live progress, then its output. `live`: the
 * sub-agent card that follows a `delegate` call, when this page saw it start. */
export function ToolCard({ tool, subAgents, live }: { tool: Tool; subAgents?: SubAgents; live?: Delegation }) {
  if (tool.name === DELEGATE_TOOL) return <DelegateToolCard tool={tool} subAgents={subAgents} live={live} />;
  const input = inputText(tool);
  const output = tool.status === "running" ? toolOutputText(tool.progress) : toolOutputText(tool.output);
  const target = (tool.input as { path?: unknown } | undefined)?.path;
  return (
    <details className={`tool tool-${tool.status}`} open={tool.status === "running" || tool.status === "error"} data-testid="tool-card">
      <summary>
        <span className="tool-name">{tool.name}</span>
        {typeof target === "string" && <code className="tool-target">{target}</code>}
        <span className={`badge tool-status ${tool.status}`}>{STATUS[tool.status]}</span>
        {tool.durationMs !== undefined && <span className="muted small">{tool.durationMs} ms</span>}
      </summary>
      {input && (
        <div className="tool-section">
          <div className="muted small">input</div>
          <pre>{input}</pre>
        </div>
      )}
      {output && (
        <div className="tool-section">
          <div className="muted small">{tool.status === "running" ? "output so far" : "output"}</div>
          <pre className={tool.status === "error" ? "error" : undefined}>{output}</pre>
        </div>
      )}
    </details>
  );
}

/** Pi's `delegate` call, also as the stored history has it after a reload: the task, then the
 * sub-agent's answer as the agent's text is shown, and its session when the result names it.
 * Folded while a sub-agent card (which says all that) follows it. */
function DelegateToolCard({ tool, subAgents, live }: { tool: Tool; subAgents?: SubAgents; live?: Delegation }) {
  const task = delegateTask(tool.input);
  const input = task ?? inputText(tool);
  const done = tool.status === "success" || tool.status === "error";
  const output = done ? toolOutputText(tool.output) : toolOutputText(tool.progress);
  // The live result carries Pi's `details` too; the stored one only the text.
  const searched = done && tool.output !== undefined ? JSON.stringify(tool.output) : "";
  const named = mentionedSessions(searched, subAgents?.children.map((c) => c.name) ?? []);
  if (live?.session && !named.includes(live.session)) named.unshift(live.session);
  const children = named.map((name) => subAgents?.children.find((c) => c.name === name) ?? { name, title: name });
  return (
    <details className={`tool tool-${tool.status} tool-delegate`} open={!live} data-testid="tool-card">
      <summary>
        <span className="tool-name">{tool.name}</span>
        {task && <span className="tool-target tool-task">{task}</span>}
        <span className={`badge tool-status ${tool.status}`}>{STATUS[tool.status]}</span>
        {tool.durationMs !== undefined && <span className="muted small">{tool.durationMs} ms</span>}
      </summary>
      {input && !task && (
        <div className="tool-section">
          <div className="muted small">input</div>
          <pre>{input}</pre>
        </div>
      )}
      {task && task.length > 80 && (
        <div className="tool-section">
          <div className="muted small">task</div>
          <p className="tool-task-text">{task}</p>
        </div>
      )}
      {children.length > 0 && subAgents?.workspace && (
        <p className="tool-section small">
          Sub-agent:{" "}
          {children.map((c, i) => (
            <span key={c.name}>
              {i > 0 && ", "}
              <SessionLink workspace={subAgents.workspace!} session={c.name} label={`${c.title}, open the sub-agent's session`}>
                {c.title}
              </SessionLink>
            </span>
          ))}
        </p>
      )}
      {output && (
        <div className="tool-section">
          <div className="muted small">{done ? (tool.status === "error" ? "error" : "answer") : "so far"}</div>
          {tool.status === "success" ? <Markdown text={output} /> : <pre className={tool.status === "error" ? "error" : undefined}>{output}</pre>}
        </div>
      )}
    </details>
  );
}
