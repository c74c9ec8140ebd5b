/** The page's one mux client, shared by every view through React context. */
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { MuxClient, type ConnectionState } from "./client";

const MuxContext = createContext<MuxClient | null>(null);

export function muxUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/ws/mux`;
}

export function MuxProvider({ children }: { children: ReactNode }) {
  const [client] = useState(() => new MuxClient(muxUrl()));
  useEffect(() => {
    client.start();
    const online = () => client.retryNow();
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      client.stop();
    };
  }, [client]);
  return <MuxContext.Provider value={client}>{children}</MuxContext.Provider>;
}

export function useMux(): MuxClient {
  const client = useContext(MuxContext);
  if (!client) throw new Error("useMux outside MuxProvider");
  return client;
}

export function useConnectionState(): ConnectionState {
  const client = useMux();
  const [state, setState] = useState(client.state);
  useEffect(() => client.onState(setState), [client]);
  return state;
}
