import { useEffect, useState } from "react";
import { api } from "../api/rest";
import { entry, type SessionEntry } from "../sidebar/sessions";

/** The sub-sessions of `session` (`spec.parentSessionRef`), for their titles and links: loaded
 * when `key` is non-empty and again whenever it changes (a sub-agent started or ended). */
export function useChildSessions(workspace: string | undefined, session: string, key: string): SessionEntry[] {
  const [children, setChildren] = useState<SessionEntry[]>([]);
  useEffect(() => {
    if (!workspace || !key) return;
    let live = true;
    api
      .sessions(workspace)
      .then((items) => {
        if (live) setChildren(items.filter((s) => s.spec.parentSessionRef?.name === session).map(entry));
      })
      .catch(() => {
        // The cards name the sessions without their titles then.
      });
    return () => {
      live = false;
    };
  }, [workspace, session, key]);
  return children;
}
