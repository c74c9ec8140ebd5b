/** The A2UI surfaces of one conversation: one `MessageProcessor` per chat (so what the user types
 * into a form stays while the agent streams on), fed each accepted `show_ui` call once, in order,
 * after the render (feeding changes what mounted surfaces show). A surface shows under the call
 * that created it, marked as the agent's; a user's action goes back to the agent as a message
 * (`actionPrompt`). One surface that fails to render costs only itself. */
import { Component, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { MessageProcessor, type A2uiClientAction, type A2uiMessage } from "@a2ui/web_core/v0_9";
import { A2uiSurface, type ReactComponentImplementation } from "@a2ui/react/v0_9";
import { catalog } from "./catalog";
import { createdBy, kindOf, type SurfaceCall } from "./messages";

export interface Surfaces {
  processor: MessageProcessor<ReactComponentImplementation>;
  /** Surface ids per tool call that created them. */
  created: Map<string, string[]>;
  /** Why a call's messages could not all be shown, per tool call. */
  errors: Map<string, string>;
}

/** Feeds the calls not fed yet into `surfaces`; whether it fed any. Idempotent. */
export function feed(surfaces: Surfaces, fed: Set<string>, calls: SurfaceCall[]): boolean {
  let changed = false;
  for (const call of calls) {
    if (fed.has(call.toolCallId)) continue;
    fed.add(call.toolCallId);
    changed = true;
    // One message at a time: a bad one (an update before its surface, an unknown component)
    // costs only itself.
    for (const message of call.messages) {
      try {
        const seen = kindOf(message);
        // Made again: the new one replaces it (the processor refuses a second create).
        if (seen?.kind === "createSurface" && surfaces.processor.model.getSurface(seen.surfaceId)) {
          const replaced: A2uiMessage = { version: "v0.9", deleteSurface: { surfaceId: seen.surfaceId } };
          surfaces.processor.processMessages([replaced]);
        }
        surfaces.processor.processMessages([message]);
      } catch (e) {
        const said = e instanceof Error ? e.message : String(e);
        const before = surfaces.errors.get(call.toolCallId);
        surfaces.errors.set(call.toolCallId, before ? `${before}; ${said}` : said);
      }
    }
  }
  if (changed) {
    surfaces.created.clear();
    for (const [call, ids] of createdBy(calls)) surfaces.created.set(call, ids);
  }
  return changed;
}

/** The same action twice within this long (a double click) is sent once. */
const SAME_ACTION_WITHIN_MS = 1500;

export function useSurfaces(session: string, calls: SurfaceCall[], onAction: (action: A2uiClientAction) => void): Surfaces {
  const action = useRef(onAction);
  action.current = onAction;
  const last = useRef<{ key: string; at: number } | null>(null);
  const state = useRef<{ session: string; surfaces: Surfaces; fed: Set<string> } | null>(null);
  if (state.current === null || state.current.session !== session) {
    state.current = {
      session,
      surfaces: {
        processor: new MessageProcessor([catalog], (a) => {
          const key = `${a.surfaceId}/${a.sourceComponentId}/${a.name}`;
          const now = Date.now();
          if (last.current && last.current.key === key && now - last.current.at < SAME_ACTION_WITHIN_MS) return;
          last.current = { key, at: now };
          action.current(a);
        }),
        created: new Map(),
        errors: new Map(),
      },
      fed: new Set(),
    };
  }
  const [, setVersion] = useState(0);
  const current = state.current;
  useLayoutEffect(() => {
    if (feed(current.surfaces, current.fed, calls)) setVersion((v) => v + 1);
  });
  return current.surfaces;
}

/** Keeps a surface that fails to render (an agent's odd value) from taking the chat with it. */
class SurfaceBoundary extends Component<{ children: ReactNode }, { error: string | null }> {
  state = { error: null as string | null };
  static getDerivedStateFromError(error: unknown) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  render() {
    return this.state.error ? <p className="error small">This interface could not be shown: {this.state.error}</p> : this.props.children;
  }
}

/** The surfaces one `show_ui` call created, as they are now. */
export function SurfaceCards({ surfaces, toolCallId }: { surfaces: Surfaces; toolCallId: string }) {
  const ids = surfaces.created.get(toolCallId) ?? [];
  const error = surfaces.errors.get(toolCallId);
  return (
    <>
      {ids.map((id) => {
        const surface = surfaces.processor.model.getSurface(id);
        return surface ? (
          <section key={id} className="a2ui-surface" data-testid="a2ui-surface" data-surface={id} aria-label="a form from the agent">
            <div className="a2ui-from muted small">From the agent: what you enter here is sent to it as your message</div>
            <SurfaceBoundary>
              <A2uiSurface surface={surface} />
            </SurfaceBoundary>
          </section>
        ) : (
          <p key={id} className="muted small">
            (the agent closed this form)
          </p>
        );
      })}
      {error && <p className="error small">This interface could not be shown: {error}</p>}
    </>
  );
}
