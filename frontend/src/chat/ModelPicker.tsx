import { useEffect, useState } from "react";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import type { OutgoingFrame } from "../mux/frames";
import type { ThinkingLevel } from "../generated/ThinkingLevel";

/** The fields of Pi's model objects (`get_models`, `get_state.model`) the picker uses. */
interface PiModel {
  id: string;
  name?: string;
  provider: string;
  reasoning?: boolean;
}

const LEVELS: ThinkingLevel[] = ["off", "minimal", "low", "medium", "high", "xhigh"];

/** Model and thinking level, from `get_models`/`get_state`; changes go to the agent. */
export function ModelPicker({
  session,
  attached,
  model,
  thinkingLevel,
}: {
  session: string;
  attached: boolean;
  model?: { provider: string; modelId: string };
  thinkingLevel?: string;
}) {
  const mux = useMux();
  const [models, setModels] = useState<PiModel[]>([]);
  const [current, setCurrent] = useState<string>("");
  const [level, setLevel] = useState<string>("");
  const [error, setError] = useState<string | null>(null);
  const request = (cmd: string, fields: Record<string, unknown> = {}) =>
    mux.request({ channel: "agent", session_id: session, id: newId(cmd), cmd, ...fields } as OutgoingFrame);

  useEffect(() => {
    if (!attached) return;
    let live = true;
    request("get_models")
      .then((reply) => {
        const data = (reply as { data?: unknown }).data;
        if (live && Array.isArray(data)) setModels(data.filter((m): m is PiModel => typeof m?.id === "string" && typeof m?.provider === "string"));
      })
      .catch((e: unknown) => live && setError(`models: ${e instanceof Error ? e.message : String(e)}`));
    request("get_state")
      .then((reply) => {
        const data = (reply as { data?: { model?: PiModel; thinkingLevel?: string } }).data;
        if (!live || !data) return;
        if (data.model) setCurrent(`${data.model.provider}/${data.model.id}`);
        if (data.thinkingLevel) setLevel(data.thinkingLevel);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [attached, session, mux]);

  useEffect(() => {
    if (model) setCurrent(`${model.provider}/${model.modelId}`);
  }, [model]);
  useEffect(() => {
    if (thinkingLevel) setLevel(thinkingLevel);
  }, [thinkingLevel]);

  const choose = (value: string) => {
    const chosen = models.find((m) => `${m.provider}/${m.id}` === value);
    if (!chosen) return;
    setError(null);
    request("set_model", { provider: chosen.provider, model_id: chosen.id })
      .then(() => setCurrent(value))
      .catch((e: unknown) => setError(`model: ${e instanceof Error ? e.message : String(e)}`));
  };
  const chooseLevel = (value: string) => {
    setError(null);
    request("set_thinking_level", { level: value })
      .then(() => setLevel(value))
      .catch((e: unknown) => setError(`thinking: ${e instanceof Error ? e.message : String(e)}`));
  };
  const known = models.some((m) => `${m.provider}/${m.id}` === current);
  return (
    <div className="pickers">
      <label className="inline">
        <span className="muted small">model</span>
        <select value={current} onChange={(e) => choose(e.target.value)} disabled={!attached || models.length === 0} aria-label="model">
          {!known && <option value={current}>{current || "…"}</option>}
          {models.map((m) => (
            <option key={`${m.provider}/${m.id}`} value={`${m.provider}/${m.id}`}>
              {modelLabel(m)}
            </option>
          ))}
        </select>
      </label>
      <label className="inline">
        <span className="muted small">thinking</span>
        <select value={level} onChange={(e) => chooseLevel(e.target.value)} disabled={!attached} aria-label="thinking level">
          {!LEVELS.includes(level as ThinkingLevel) && <option value={level}>{level || "…"}</option>}
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
      </label>
      {error && <span className="error small">{error}</span>}
    </div>
  );
}

/** A model as the picker names it: the LLM proxy's models by name alone (they all come from
 * the platform's catalogue), others with their provider, and the demo marked as such. */
export function modelLabel(m: { provider: string; id: string; name?: string | null }): string {
  const name = m.name ?? m.id;
  if (m.provider === "oqto-demo" || m.id.startsWith("demo-not-a-real-llm")) return `${name} (demo, not a real LLM)`;
  if (m.provider === "oqto" || m.provider === "oqto-anthropic") return name;
  return `${m.provider}/${name}`;
}
