/** The gateway's REST API (/api). Errors carry the gateway's message, which names the field. The
 * login cookie (HttpOnly) authenticates every call and the mux WebSocket alike. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface User {
  id: string;
  username: string;
  role: "admin" | "user";
  created_at: number;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The parts of a Workspace or Session object the UI shows (full objects: `kubectl explain`). */
export interface ObjectMeta {
  name: string;
  creationTimestamp?: string;
}

export interface Workspace {
  metadata: ObjectMeta;
  spec: {
    owner: string;
    workspaceClassName?: string;
    storage?: { size?: string; reclaimPolicy?: "Retain" | "Delete" };
    llm?: { provider?: string; model?: string };
    lifecycle?: { idleTimeout?: string };
  };
  status?: { phase?: string; conditions?: Condition[] };
}

/** A WorkspaceClass as offered to the caller (`GET /api/workspaceclasses`). */
export interface WorkspaceClassSummary {
  name: string;
  displayName: string;
  description?: string;
  egress: "Open" | "Restricted";
  models: string[];
  maxSize?: string;
  /** Workspaces that name no class get this one. */
  default: boolean;
}

export type SessionPhase = "Pending" | "Starting" | "Running" | "Suspended" | "Failed";

export interface Session {
  metadata: ObjectMeta;
  spec: { workspaceRef: { name: string }; suspended?: boolean; provider?: string; model?: string };
  status?: { phase?: SessionPhase; conditions?: Condition[]; endpoint?: string };
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `the gateway is unreachable (${String(e)})`);
  }
  const text = await response.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const error = parsed as { error?: string; code?: string } | null;
    throw new ApiError(response.status, error?.error ?? `${method} /api${path}: HTTP ${response.status}`, error?.code);
  }
  return parsed as T;
}

/** The LLM proxy's records (`GET /api/usage`). */
export interface UsageLine {
  namespace: string;
  workspace: string;
  session: string;
  requests: number;
  tokens: number;
  cost: number;
}

export interface BudgetState {
  scope: "user";
  period: "day" | "month";
  tokens?: number;
  costUsd?: number;
  spentTokens: number;
  spentCost: number;
  resets: string;
}

export interface Usage {
  user: string;
  period: "day" | "month";
  since: string;
  lines: UsageLine[];
  budgets: BudgetState[];
}

/** What a provider's rate-limit headers said last (the LLM proxy's reading). */
export interface RateLimit {
  provider: string;
  limit: "requests" | "tokens";
  remaining: number;
  seen: string;
}

export interface UserTotal {
  user: string;
  requests: number;
  tokens: number;
  cost: number;
}

const enc = encodeURIComponent;

export const api = {
  me: () => call<User>("GET", "/auth/me"),
  login: (username: string, password: string) =>
    call<{ user: User }>("POST", "/auth/login", { username, password }),
  logout: () => call<null>("POST", "/auth/logout"),

  workspaceClasses: () =>
    call<{ items: WorkspaceClassSummary[] }>("GET", "/workspaceclasses").then((r) => r.items),
  workspaces: () => call<{ items: Workspace[] }>("GET", "/workspaces").then((r) => r.items),
  createWorkspace: (name: string, spec: Record<string, unknown>) =>
    call<Workspace>("POST", "/workspaces", { name, spec }),
  deleteWorkspace: (name: string) => call<unknown>("DELETE", `/workspaces/${enc(name)}`),

  sessions: (workspace: string) =>
    call<{ items: Session[] }>("GET", `/workspaces/${enc(workspace)}/sessions`).then((r) => r.items),
  createSession: (workspace: string, spec: Record<string, unknown> = {}) =>
    call<Session>("POST", `/workspaces/${enc(workspace)}/sessions`, { spec }),
  deleteSession: (workspace: string, session: string) =>
    call<unknown>("DELETE", `/workspaces/${enc(workspace)}/sessions/${enc(session)}`),
  suspendSession: (workspace: string, session: string) =>
    call<Session>("POST", `/workspaces/${enc(workspace)}/sessions/${enc(session)}/suspend`),
  resumeSession: (workspace: string, session: string) =>
    call<Session>("POST", `/workspaces/${enc(workspace)}/sessions/${enc(session)}/resume`),

  usage: (period: "day" | "month") => call<Usage>("GET", `/usage?period=${period}`),
  allUsage: (period: "day" | "month") =>
    call<{ period: string; since: string; users: UserTotal[]; rateLimits: RateLimit[] }>("GET", `/admin/usage?period=${period}`),
};
