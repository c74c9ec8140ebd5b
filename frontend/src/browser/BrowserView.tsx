import { useEffect, useRef, useState } from "react";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import type { OutgoingFrame, ServerFrame } from "../mux/frames";
import type { Attach } from "../session/useAttach";
import { base64ToBytes } from "../files/base64";
import { keyText, modifiers, mouseButton, navigable, pagePoint, textChunks } from "./input";

type BrowserFrame = Extract<ServerFrame, { channel: "browser" }>;
type PageState = { url: string; title: string; controller: "agent" | "user"; you: boolean };

/** Pointer moves sent at most this often (the page sees hover and drags, the wire stays small). */
const MOVE_EVERY_MS = 50;

/** The agent's browser, live: the runner's screencast of its page over the `browser` channel,
 * watched while the tab shows. The user may take control (mouse, keyboard, paste, an address) and
 * hand it back; meanwhile the agent's browser tools wait. */
export function BrowserView({ session, attach, visible }: { session: string; attach: Attach; visible: boolean }) {
  const mux = useMux();
  const [image, setImage] = useState<{ url: string; width: number; height: number; seq: number } | null>(null);
  const [page, setPage] = useState<PageState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [address, setAddress] = useState("");
  const shown = useRef<HTMLImageElement>(null);
  const lastMove = useRef(0);
  const generation = attach.status === "attached" ? attach.generation : 0;

  const send = (body: Record<string, unknown>) => mux.send({ channel: "browser", session_id: session, ...body } as unknown as OutgoingFrame);

  // Frames and state of this session's browser.
  useEffect(() => {
    return mux.onFrame((frame: ServerFrame) => {
      if (frame.channel !== "browser" || (frame as { session_id?: string }).session_id !== session) return;
      const f = frame as BrowserFrame;
      if (f.type === "frame") {
        const blob = new Blob([base64ToBytes(f.data_base64) as BlobPart], { type: f.mime });
        const url = URL.createObjectURL(blob);
        setImage((previous) => {
          if (previous) URL.revokeObjectURL(previous.url);
          return { url, width: f.width, height: f.height, seq: Number(f.seq) };
        });
        setError(null);
      } else if (f.type === "state") {
        setPage({ url: f.url, title: f.title, controller: f.controller, you: f.you_control });
        setError(null);
      } else if (f.type === "error") {
        setError(f.error);
      }
    });
  }, [mux, session]);

  // Watch while shown and attached; a reconnect (a new attach) watches again.
  useEffect(() => {
    if (!visible || generation === 0) return;
    send({ type: "watch", id: newId("b") });
    return () => send({ type: "unwatch" });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mux, session, visible, generation]);

  // The last frame's object URL goes with the view.
  useEffect(() => () => setImage((previous) => (previous && URL.revokeObjectURL(previous.url), null)), []);

  const you = page?.you ?? false;
  const point = (e: { clientX: number; clientY: number }) => {
    const box = shown.current?.getBoundingClientRect();
    return box && image ? pagePoint(e.clientX, e.clientY, box, image) : null;
  };
  const mouse = (event: "down" | "up" | "move", e: React.MouseEvent) => {
    if (!you) return;
    const at = point(e);
    if (!at) return;
    if (event === "move") {
      const now = performance.now();
      if (now - lastMove.current < MOVE_EVERY_MS) return;
      lastMove.current = now;
    } else {
      e.preventDefault();
      (e.currentTarget as HTMLElement).focus();
    }
    const button = event === "move" ? {} : { button: mouseButton(e.button), click_count: Math.min(3, Math.max(1, e.detail || 1)) };
    send({ type: "mouse", event, ...at, ...button, modifiers: modifiers(e) });
  };
  const wheel = (e: React.WheelEvent) => {
    if (!you) return;
    const at = point(e);
    if (at) send({ type: "mouse", event: "wheel", ...at, delta_x: e.deltaX, delta_y: e.deltaY, modifiers: modifiers(e) });
  };
  const key = (event: "down" | "up", e: React.KeyboardEvent) => {
    if (!you) return;
    // Paste is the browser's own (it arrives as `onPaste`); everything else goes to the page.
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "v") return;
    e.preventDefault();
    const text = event === "down" ? keyText(e) : undefined;
    send({ type: "key", event, key: e.key, code: e.code, ...(text ? { text } : {}), modifiers: modifiers(e) });
  };

  const state = page
    ? page.controller === "agent"
      ? "The agent drives this browser."
      : you
        ? "You control the browser: click, type and paste into the page. The agent sees this page when you hand it back: type no secret you would not give it."
        : "Someone in another tab controls the browser."
    : null;

  return (
    <div className="browser-pane" data-testid="browser">
      <div className="browser-bar">
        <span className={`badge ${page?.controller === "user" ? "phase-running" : "phase-starting"}`} data-testid="browser-controller">
          {page ? (page.controller === "agent" ? "agent" : "you") : "…"}
        </span>
        <span className="browser-url small" data-testid="browser-url" title={page?.url}>
          {page ? `${page.title || "(untitled)"} · ${page.url}` : "waiting for the browser…"}
        </span>
        {page &&
          (you ? (
            <button type="button" onClick={() => send({ type: "release_control", id: newId("b") })}>
              Hand back to the agent
            </button>
          ) : (
            <button
              type="button"
              onClick={() => {
                setAddress(page.url);
                send({ type: "take_control", id: newId("b") });
              }}
            >
              Take control
            </button>
          ))}
      </div>
      {you && (
        <form
          className="browser-address"
          onSubmit={(e) => {
            e.preventDefault();
            const url = navigable(address);
            if (url) send({ type: "navigate", id: newId("b"), url });
            else setError(`${address}: only http and https addresses open here`);
          }}
        >
          <input aria-label="address" value={address} onChange={(e) => setAddress(e.target.value)} placeholder={page?.url ?? ""} />
          <button type="submit">Go</button>
        </form>
      )}
      {state && <p className="muted small" role="status">{state}</p>}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      <div
        className={you ? "browser-screen controlled" : "browser-screen"}
        tabIndex={you ? 0 : -1}
        onKeyDown={(e) => key("down", e)}
        onKeyUp={(e) => key("up", e)}
        onPaste={(e) => {
          if (!you) return;
          e.preventDefault();
          for (const text of textChunks(e.clipboardData.getData("text/plain"))) send({ type: "text", text });
        }}
      >
        {image ? (
          <img
            ref={shown}
            src={image.url}
            alt={page ? `the agent's browser: ${page.title || page.url}` : "the agent's browser"}
            data-testid="browser-frame"
            data-seq={image.seq}
            draggable={false}
            onMouseDown={(e) => mouse("down", e)}
            onMouseUp={(e) => mouse("up", e)}
            onMouseMove={(e) => mouse("move", e)}
            onWheel={wheel}
            onContextMenu={(e) => you && e.preventDefault()}
          />
        ) : (
          !error && <p className="muted small">No picture yet: the page shows here once the browser draws it.</p>
        )}
      </div>
    </div>
  );
}
