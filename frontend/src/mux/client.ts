/** The one mux connection of the page (`/api/ws/mux`): reconnects by itself with backoff, tells
 * its state, correlates requests with replies by `id`, holds frames sent while it is down, and
 * lets views re-attach (`session.create`, history) before those frames go out after a reconnect. */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
import { parseServerFrame, type OutgoingFrame, type ServerFrame } from "./frames";

export type ConnectionState =
  | { status: "connecting"; attempt: number }
  | { status: "open"; since: number }
  | { status: "reconnecting"; attempt: number; retryAt: number; reason: string }
  | { status: "closed" };

/** The part of the browser's WebSocket this client uses (so tests can hand in their own). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export interface MuxOptions {
  createSocket?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  random?: () => number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** No frame for this long (the server pings every 10 s) means a dead connection. */
  staleAfterMs?: number;
  /** Frames held while disconnected, at most; older ones are dropped with an error. */
  maxQueued?: number;
  requestTimeoutMs?: number;
}

export class RequestError extends Error {
  constructor(
    message: string,
    readonly frame?: ServerFrame,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

const OPEN = 1;

interface Pending {
  resolve: (frame: ServerFrame) => void;
  reject: (error: Error) => void;
  timer: unknown;
  sent: boolean;
}

let counter = 0;
/** A request id unique within the page (crypto.randomUUID needs a secure context). */
export function newId(prefix = "r"): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Whether `frame` answers the request with this id, and whether it is a failure. */
export function replyTo(frame: ServerFrame, id: string): { ok: boolean; error?: string } | null {
  const record = frame as { id?: unknown; channel: string; event?: string; type?: string };
  if (record.id !== id) return null;
  if (frame.channel === "agent") {
    if (frame.event !== "response") return null;
    return frame.success ? { ok: true } : { ok: false, error: frame.error ?? `${frame.cmd} failed` };
  }
  if (frame.channel === "system") {
    return frame.type === "error" ? { ok: false, error: frame.error } : null;
  }
  if (record.type === "error") {
    return { ok: false, error: (frame as { error?: string }).error ?? "request failed" };
  }
  return { ok: true };
}

export class MuxClient {
  private socket: SocketLike | null = null;
  private current: ConnectionState = { status: "connecting", attempt: 0 };
  private attempt = 0;
  private everOpened = false;
  private stopped = true;
  private retryTimer: unknown = null;
  private staleTimer: unknown = null;
  /** Frames sent while down, serialized, with their request id. */
  private queue: { text: string; id?: string }[] = [];
  private pending = new Map<string, Pending>();
  private stateListeners = new Set<(state: ConnectionState) => void>();
  private frameListeners = new Set<(frame: ServerFrame) => void>();
  private openHooks = new Set<(reconnected: boolean) => void>();
  private readonly options: Required<MuxOptions>;

  constructor(
    private readonly url: string,
    options: MuxOptions = {},
  ) {
    this.options = {
      createSocket: options.createSocket ?? ((u) => new WebSocket(u) as unknown as SocketLike),
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      setTimer: options.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
      staleAfterMs: options.staleAfterMs ?? 25_000,
      maxQueued: options.maxQueued ?? 256,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
    };
  }

  get state(): ConnectionState {
    return this.current;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (logout): pending requests fail, nothing reconnects. */
  stop(): void {
    this.stopped = true;
    this.clear(this.retryTimer);
    this.clear(this.staleTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the page");
    this.failPending("the connection was closed", () => true);
    this.queue = [];
    this.setState({ status: "closed" });
  }

  /** Tries now instead of waiting for the backoff (the browser came back online). */
  retryNow(): void {
    if (this.stopped || this.current.status !== "reconnecting") return;
    this.clear(this.retryTimer);
    this.connect();
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.current);
    return () => this.stateListeners.delete(listener);
  }

  onFrame(listener: (frame: ServerFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Runs on every open, before held frames go out: the place to re-attach after a reconnect. */
  onOpen(hook: (reconnected: boolean) => void): () => void {
    this.openHooks.add(hook);
    return () => this.openHooks.delete(hook);
  }

  /** Sends now when connected, else holds the frame until the next open. */
  send(frame: OutgoingFrame): void {
    const held = { text: JSON.stringify(frame), id: (frame as { id?: string | null }).id ?? undefined };
    if (this.socket && this.socket.readyState === OPEN && this.current.status === "open") {
      this.transmit(held);
      return;
    }
    this.queue.push(held);
    if (this.queue.length > this.options.maxQueued) {
      const dropped = this.queue.shift();
      if (dropped?.id) this.settle(dropped.id, new RequestError("too many frames waiting for the connection"));
    }
  }

  /** Puts a frame on the wire; a request on the wire fails if the connection drops. */
  private transmit(frame: { text: string; id?: string }): void {
    this.socket?.send(frame.text);
    const pending = frame.id ? this.pending.get(frame.id) : undefined;
    if (pending) pending.sent = true;
  }

  /** Sends a frame with an `id` and resolves with its reply (rejects on an error reply). */
  request(frame: OutgoingFrame, timeoutMs = this.options.requestTimeoutMs): Promise<ServerFrame> {
    const id = (frame as { id?: string | null }).id ?? newId();
    const withId = { ...frame, id } as OutgoingFrame;
    return new Promise<ServerFrame>((resolve, reject) => {
      const timer = this.options.setTimer(() => {
        this.settle(id, new RequestError(`no reply to ${describe(withId)} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, sent: false });
      this.send(withId);
    });
  }

  private settle(id: string, outcome: ServerFrame | Error): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    this.clear(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private failPending(message: string, which: (p: Pending) => boolean): void {
    for (const [id, pending] of [...this.pending]) {
      if (which(pending)) this.settle(id, new RequestError(message));
    }
  }

  private connect(): void {
    this.setState({ status: "connecting", attempt: this.attempt });
    let socket: SocketLike;
    try {
      socket = this.options.createSocket(this.url);
    } catch (e) {
      this.scheduleRetry(`cannot connect: ${String(e)}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.armStale();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== "string") return;
      this.armStale();
      const frame = parseServerFrame(event.data);
      if (!frame) return;
      if (frame.channel === "system" && frame.type === "connected") {
        this.opened();
        return;
      }
      if (frame.channel === "system" && frame.type === "ping") return;
      const id = (frame as { id?: unknown }).id;
      if (typeof id === "string" && this.pending.has(id)) {
        const reply = replyTo(frame, id);
        if (reply) this.settle(id, reply.ok ? frame : new RequestError(reply.error ?? "failed", frame));
      }
      for (const listener of [...this.frameListeners]) listener(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clear(this.staleTimer);
      // A request already on the wire gets no reply from a closed connection.
      this.failPending("the connection was lost before the reply", (p) => p.sent);
      if (!this.stopped) {
        this.scheduleRetry(event.reason || (event.code === 1006 ? "the gateway is unreachable" : `closed (${event.code})`));
      }
    };
    socket.onerror = () => {
      // onclose follows and decides.
    };
  }

  /** The server's greeting: the connection is usable. */
  private opened(): void {
    const reconnected = this.everOpened;
    this.everOpened = true;
    this.attempt = 0;
    this.setState({ status: "open", since: this.options.now() });
    for (const hook of [...this.openHooks]) hook(reconnected);
    const held = this.queue;
    this.queue = [];
    for (const frame of held) this.transmit(frame);
  }

  private scheduleRetry(reason: string): void {
    const delay = backoffDelay(this.attempt, this.options.backoff, this.options.random);
    this.attempt += 1;
    this.setState({
      status: "reconnecting",
      attempt: this.attempt,
      retryAt: this.options.now() + delay,
      reason,
    });
    this.retryTimer = this.options.setTimer(() => this.connect(), delay);
  }

  private armStale(): void {
    this.clear(this.staleTimer);
    const socket = this.socket;
    this.staleTimer = this.options.setTimer(() => {
      if (this.socket === socket) socket?.close(4000, "no frame from the gateway in time");
      // Browsers may take long to fire onclose on a dead TCP connection: do not wait.
      if (this.socket === socket && socket) socket.onclose?.({ code: 4000, reason: "the gateway stopped answering" });
    }, this.options.staleAfterMs);
  }

  private clear(handle: unknown): void {
    if (handle !== null && handle !== undefined) this.options.clearTimer(handle);
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }
}

function describe(frame: OutgoingFrame): string {
  const f = frame as { channel: string; cmd?: string; type?: string };
  return `${f.channel} ${f.cmd ?? f.type ?? "frame"}`;
}
