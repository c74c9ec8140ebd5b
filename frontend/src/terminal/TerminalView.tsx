import { useEffect, useRef, useState } from "react";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import type { OutgoingFrame, ServerFrame } from "../mux/frames";
import type { Attach } from "../session/useAttach";
import { base64ToBytes } from "../files/base64";

/** A shell in the workspace over the `terminal` channel; it follows its pane's size, and a new
 * shell opens after a reconnect (a terminal lives as long as its connection). */
export function TerminalView({ session, attach, visible }: { session: string; attach: Attach; visible: boolean }) {
  const mux = useMux();
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<{ terminal: Terminal; fit: FitAddon } | null>(null);
  const id = useRef<string | null>(null);
  /** The attach generation the current shell belongs to. */
  const openedFor = useRef(0);
  const [status, setStatus] = useState<string>("waiting for the runner…");
  const generation = attach.status === "attached" ? attach.generation : 0;

  // The emulator, once.
  useEffect(() => {
    if (!host.current) return;
    const terminal = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 13, scrollback: 5000 });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(host.current);
    term.current = { terminal, fit };
    const input = terminal.onData((data) => {
      if (id.current) mux.send({ channel: "terminal", session_id: session, type: "input", terminal_id: id.current, data } as OutgoingFrame);
    });
    const resized = terminal.onResize(({ cols, rows }) => {
      if (id.current) mux.send({ channel: "terminal", session_id: session, type: "resize", terminal_id: id.current, cols, rows } as OutgoingFrame);
    });
    const observer = new ResizeObserver(() => {
      if (host.current && host.current.offsetWidth > 0) fit.fit();
    });
    observer.observe(host.current);
    const off = mux.onFrame((frame: ServerFrame) => {
      if (frame.channel !== "terminal" || frame.terminal_id !== id.current) return;
      if (frame.type === "output") terminal.write(base64ToBytes(frame.data_base64));
      if (frame.type === "exit") {
        setStatus("the shell exited");
        id.current = null;
      }
    });
    return () => {
      off();
      observer.disconnect();
      input.dispose();
      resized.dispose();
      if (id.current) mux.send({ channel: "terminal", session_id: session, type: "close", terminal_id: id.current } as OutgoingFrame);
      id.current = null;
      terminal.dispose();
      term.current = null;
    };
  }, [mux, session]);

  // A shell for every (re)attach, opened when the pane is first shown (it needs a size).
  useEffect(() => {
    const current = term.current;
    if (!current || generation === 0 || !visible) return;
    if (id.current && generation === openedFor.current) return;
    current.fit.fit();
    setStatus("opening a shell…");
    openedFor.current = generation;
    mux
      .request({ channel: "terminal", session_id: session, id: newId("t"), type: "open", cols: current.terminal.cols, rows: current.terminal.rows } as unknown as OutgoingFrame)
      .then((reply) => {
        if (reply.channel === "terminal" && reply.type === "opened") {
          if (generation > 1) current.terminal.write("\r\n\x1b[2m[reconnected: a new shell]\x1b[0m\r\n");
          id.current = reply.terminal_id;
          setStatus("");
          current.terminal.focus();
        }
      })
      .catch((e: unknown) => setStatus(`The terminal did not open: ${e instanceof Error ? e.message : String(e)}`));
  }, [mux, session, generation, visible]);

  useEffect(() => {
    if (visible) term.current?.fit.fit();
  }, [visible]);

  return (
    <div className="terminal-pane">
      {status && <p className="muted small" role="status">{status}</p>}
      <div className="terminal-host" ref={host} data-testid="terminal" />
    </div>
  );
}
