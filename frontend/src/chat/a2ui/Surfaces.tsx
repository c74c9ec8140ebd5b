/** The A2UI surfaces of one conversation: one `MessageProcessor` per chat (so what the user types
 * into a form stays while the agent streams on), fed each accepted `show_ui` call once, in order.
 * A surface shows under the call that created it; a user's action goes back to the agent as a
 * message (`actionPrompt`). */
import { useRef } from "react";
import { MessageProcessor, type A2uiClientAction } from "@a2ui/web_core/v0_9";
import { A2uiSurface, type ReactComponentImplementation } from "@a2ui/react/v0_9";
import { catalog } from "./catalog";
import { createdBy, type SurfaceCall } from "./messages";

export interface Surfaces {
  processor: MessageProcessor<ReactComponentImplementation>;
  /** Surface ids per tool call that created them. */
  created: Map<string, string[]>;
  /** Why a call's messages could not be shown, per tool call. */
  errors: Map<string, string>;
}

/** Feeds the calls not fed yet into `surfaces` (idempotent, so a second render feeds nothing). */
export function feed(surfaces: Surfaces, fed: Set<string>, calls: SurfaceCall[]) {
  for (const call of calls) {
    if (fed.has(call.toolCallId)) continue;
    fed.add(call.toolCallId);
    // One message at a time: a bad one (an unknown component, an update before its surface)
    // costs only itself.
    for (const message of call.messages) {
      try {
        surfaces.processor.processMessages([message]);
      } catch (e) {
        surfaces.errors.set(call.toolCallId, e instanceof Error ? e.message : String(e));
      }
    }
  }
  for (const [call, ids] of createdBy(calls)) surfaces.created.set(call, ids);
}

export function useSurfaces(session: string, calls: SurfaceCall[], onAction: (action: A2uiClientAction) => void): Surfaces {
  const action = useRef(onAction);
  action.current = onAction;
  const state = useRef<{ session: string; surfaces: Surfaces; fed: Set<string> } | null>(null);
  if (state.current === null || state.current.session !== session) {
    state.current = {
      session,
      surfaces: {
        processor: new MessageProcessor([catalog], (a) => action.current(a)),
        created: new Map(),
        errors: new Map(),
      },
      fed: new Set(),
    };
  }
  feed(state.current.surfaces, state.current.fed, calls);
  return state.current.surfaces;
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
          <div key={id} className="a2ui-surface" data-testid="a2ui-surface" data-surface={id}>
            <A2uiSurface surface={surface} />
          </div>
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
