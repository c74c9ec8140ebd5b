/** Attaches the page to a session's agent (`session.create`, which also wakes a suspended
 * session) now and after every reconnect, so events flow again without user action; a failed
 * attach (the runner did not start in time, or stopped as it was reached) is tried again,
 * 2 s doubling to 30 s apart, up to `MAX_ATTACH_RETRIES` times (an error that stays, such as a
 * deleted session, is not asked about for ever), while the page shows the error. */
import { useEffect, useState } from "react";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import type { OutgoingFrame } from "../mux/frames";

export type Attach = { status: "attaching"; since: number } | { status: "attached"; generation: number } | { status: "failed"; error: string };

/** A runner starting from cold may take a while; the operator's startTimeout bounds it. */
const ATTACH_TIMEOUT_MS = 180_000;

/** Retries of failed attaches before the page leaves it to the user (about 2.5 min). */
export const MAX_ATTACH_RETRIES = 8;

/** The wait before the `failures`-th retry of a failed attach. */
export function retryDelayMs(failures: number): number {
  return Math.min(2_000 * 2 ** Math.max(0, failures - 1), 30_000);
}

export function useAttach(session: string): Attach {
  const mux = useMux();
  const [attach, setAttach] = useState<Attach>({ status: "attaching", since: Date.now() });
  useEffect(() => {
    let live = true;
    let generation = 0;
    let failures = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      clearTimeout(retry);
      generation += 1;
      const mine = generation;
      setAttach({ status: "attaching", since: Date.now() });
      const frame = { channel: "agent", session_id: session, id: newId("attach"), cmd: "session.create", config: { harness: "pi" } } as OutgoingFrame;
      mux
        .request(frame, ATTACH_TIMEOUT_MS)
        .then(() => {
          failures = 0;
          if (live && mine === generation) setAttach({ status: "attached", generation: mine });
        })
        .catch((e: unknown) => {
          if (live && mine === generation && mux.state.status === "open") {
            setAttach({ status: "failed", error: e instanceof Error ? e.message : String(e) });
            failures += 1;
            if (failures <= MAX_ATTACH_RETRIES) retry = setTimeout(run, retryDelayMs(failures));
          }
        });
    };
    const off = mux.onOpen((reconnected) => {
      if (reconnected) run();
    });
    run();
    return () => {
      live = false;
      clearTimeout(retry);
      off();
    };
  }, [mux, session]);
  return attach;
}
