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

/** A tool call: its name and status, its input, live progress, then its output. */
export function ToolCard({ tool }: { tool: Tool }) {
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
