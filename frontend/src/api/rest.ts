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
  labels?: Record<string, string>;
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
  spec: {
    workspaceRef: { name: string };
    suspended?: boolean;
    provider?: string;
    model?: string;
    displayName?: string;
    /** The Session (same workspace) whose agent started this one: a sub-agent's. Immutable. */
    parentSessionRef?: { name: string };
  };
  status?: { phase?: SessionPhase; conditions?: Condition[]; endpoint?: string; startedAt?: string; lastActivityAt?: string };
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
  session: (workspace: string, session: string) => call<Session>("GET", `/workspaces/${enc(workspace)}/sessions/${enc(session)}`),
  /** Every Session of the caller's Workspaces (the sidebar). */
  allSessions: () => call<{ items: Session[] }>("GET", "/sessions").then((r) => r.items),
  /** Sets the session's title (`spec.displayName`); empty removes it. */
  renameSession: (workspace: string, session: string, displayName: string) =>
    call<Session>("PATCH", `/workspaces/${enc(workspace)}/sessions/${enc(session)}`, { displayName }),
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

// --- accounts (issue 18.8): the caller's password and API keys, and admins' users ---

/** A user as admins see them (`GET /api/users`). */
export interface Account extends User {
  /** A disabled user cannot log in; their tokens and API keys are refused. */
  disabled: boolean;
}

/** An API key as listed: never the key itself. Times are Unix milliseconds. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  /** The key's first characters, to tell keys apart. */
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** When it stops working; null: it works until revoked. */
  expires_at: number | null;
}

/** The answer to creating a key: the key itself, shown this once. */
export interface CreatedKey extends ApiKeyInfo {
  key: string;
}

export const accountsApi = {
  /** Every session token of the caller ends, this page's too: log in again afterwards. */
  changePassword: (currentPassword: string, newPassword: string) =>
    call<null>("PUT", "/auth/password", { current_password: currentPassword, new_password: newPassword }),
  keys: () => call<{ items: ApiKeyInfo[] }>("GET", "/keys").then((r) => r.items),
  /** `expiresInDays` null: the key works until revoked. */
  createKey: (name: string, expiresInDays: number | null) =>
    call<CreatedKey>("POST", "/keys", expiresInDays === null ? { name } : { name, expires_in_days: expiresInDays }),
  revokeKey: (id: string) => call<null>("DELETE", `/keys/${enc(id)}`),

  users: () => call<{ items: Account[] }>("GET", "/users").then((r) => r.items),
  createUser: (username: string, password: string, role: User["role"]) =>
    call<Account>("POST", "/users", { username, password, role }),
  updateUser: (username: string, change: { role?: User["role"]; disabled?: boolean }) =>
    call<Account>("PATCH", `/users/${enc(username)}`, change),
  /** The user's session tokens end. */
  resetPassword: (username: string, password: string) =>
    call<null>("PUT", `/users/${enc(username)}/password`, { password }),
  deleteUser: (username: string) => call<null>("DELETE", `/users/${enc(username)}`),
};

// --- schedules: a prompt sent to an agent on a cron schedule (operator/api/src/schedule.rs) ---

export type ConcurrencyPolicy = "Allow" | "Forbid" | "Replace";
export type RunOutcome = "Succeeded" | "Failed" | "Skipped" | "Cancelled";

/** Where each run's prompt goes: exactly one of the two. */
export type ScheduleTarget =
  | { sessionRef: { name: string }; newSession?: undefined }
  | { newSession: { workspaceRef: { name: string }; provider?: string; model?: string }; sessionRef?: undefined };

export interface ScheduleSpec {
  /** Five cron fields (minute hour day-of-month month day-of-week) or a macro (`@daily`). */
  schedule: string;
  /** IANA time zone the schedule is read in; UTC when absent. */
  timeZone?: string;
  prompt: string;
  target: ScheduleTarget;
  /** Default `Forbid`. */
  concurrencyPolicy?: ConcurrencyPolicy;
  suspend?: boolean;
  startingDeadlineSeconds?: number;
  /** A duration such as `30m`; default 1h. */
  runTimeout?: string;
  successfulRunsHistoryLimit?: number;
  failedRunsHistoryLimit?: number;
}

/** One run of a Schedule; times are RFC 3339. */
export interface ScheduleRun {
  scheduledAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The Session it ran in. */
  session: string;
  /** Empty while the run is in progress. */
  outcome?: RunOutcome;
  /** Why it failed or was skipped (never the agent's output). */
  message?: string;
}

export interface ScheduleStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  /** Empty while suspended. */
  nextScheduleTime?: string;
  active?: ScheduleRun[];
  /** Finished runs, newest first. */
  runs?: ScheduleRun[];
}

export interface Schedule {
  metadata: ObjectMeta;
  spec: ScheduleSpec;
  status?: ScheduleStatus;
}

/** What `PATCH` may change. */
export interface ScheduleChange {
  suspend?: boolean;
  schedule?: string;
  timeZone?: string;
  prompt?: string;
  concurrencyPolicy?: ConcurrencyPolicy;
}

export const schedulesApi = {
  /** Every Schedule the caller may see. */
  all: () => call<{ items: Schedule[] }>("GET", "/schedules").then((r) => r.items),
  list: (workspace: string) => call<{ items: Schedule[] }>("GET", `/workspaces/${enc(workspace)}/schedules`).then((r) => r.items),
  /** Without a name the gateway picks one. */
  create: (workspace: string, body: { name?: string; spec: ScheduleSpec }) =>
    call<Schedule>("POST", `/workspaces/${enc(workspace)}/schedules`, body),
  update: (workspace: string, name: string, change: ScheduleChange) =>
    call<Schedule>("PATCH", `/workspaces/${enc(workspace)}/schedules/${enc(name)}`, change),
  remove: (workspace: string, name: string) => call<null>("DELETE", `/workspaces/${enc(workspace)}/schedules/${enc(name)}`),
};
