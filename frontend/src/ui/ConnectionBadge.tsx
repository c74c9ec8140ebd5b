import { useEffect, useState } from "react";
import { useConnectionState } from "../mux/context";

/** The mux connection's state, always in the header: users see a reconnect happen. */
export function ConnectionBadge() {
  const state = useConnectionState();
  const [, tick] = useState(0);
  useEffect(() => {
    if (state.status !== "reconnecting") return;
    const timer = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, [state]);
  let label: string;
  let title = "";
  switch (state.status) {
    case "open":
      label = "connected";
      break;
    case "connecting":
      label = state.attempt === 0 ? "connecting…" : "reconnecting…";
      break;
    case "reconnecting": {
      const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      label = seconds > 0 ? `offline: retrying in ${seconds}s` : "reconnecting…";
      title = state.reason;
      break;
    }
    case "closed":
      label = "disconnected";
      break;
  }
  return (
    <span className={`badge connection ${state.status}`} role="status" aria-live="polite" title={title} data-testid="connection">
      {label}
    </span>
  );
}
