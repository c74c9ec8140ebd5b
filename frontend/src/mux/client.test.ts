import { describe, expect, it } from "vitest";
import { MuxClient, type ConnectionState, type SocketLike } from "./client";
import { backoffDelay } from "./backoff";
import type { OutgoingFrame, ServerFrame } from "./frames";
import { recorded } from "../test/recorded";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  closed = false;
  constructor(readonly url: string) {}
  send(data: string) {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
  /** The server accepts and greets. */
  accept() {
    this.readyState = 1;
    this.onopen?.({});
    this.push({ channel: "system", type: "connected" });
  }
  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  frames(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s));
  }
}

/** A client on fake sockets and a fake clock. */
function harness() {
  const sockets: FakeSocket[] = [];
  let now = 0;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  const client = new MuxClient("ws://gateway/api/ws/mux", {
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    random: () => 1,
    now: () => now,
    setTimer: (fn, ms) => {
      nextId += 1;
      timers.push({ at: now + ms, fn, id: nextId });
      return nextId;
    },
    clearTimer: (id) => {
      const index = timers.findIndex((t) => t.id === id);
      if (index >= 0) timers.splice(index, 1);
    },
    staleAfterMs: 25_000,
    requestTimeoutMs: 60_000,
  });
  const states: ConnectionState[] = [];
  client.onState((s) => states.push(s));
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const next = timers[0];
      if (!next || next.at > until) break;
      timers.shift();
      now = next.at;
      next.fn();
    }
    now = until;
  };
  return { client, sockets, states, advance, last: () => sockets[sockets.length - 1]! };
}

const prompt = (id: string): OutgoingFrame =>
  ({ channel: "agent", session_id: "s1", id, cmd: "prompt", message: "hi" }) as OutgoingFrame;

describe("mux client", () => {
  it("is open only after the server's greeting and holds frames until then", () => {
    const { client, last, states } = harness();
    client.start();
    expect(client.state.status).toBe("connecting");
    client.send(prompt("early"));
    last().readyState = 1;
    expect(last().sent).toEqual([]);
    last().accept();
    expect(client.state.status).toBe("open");
    expect(last().frames().map((f) => f.id)).toEqual(["early"]);
    expect(states.map((s) => s.status)).toEqual(["connecting", "connecting", "open"]);
  });

  it("resolves a request with its response and rejects a failed one with the server's error", async () => {
    const { client, last } = harness();
    client.start();
    last().accept();
    const ok = client.request(prompt("p1"));
    const bad = client.request({ channel: "files", session_id: "s1", id: "f1", type: "read", path: "../x" } as OutgoingFrame);
    // Other frames with no or another id do not settle it.
    last().push({ channel: "agent", session_id: "s1", event: "agent.working", phase: "generating", runner_id: "r", ts: 1 });
    last().push({ channel: "agent", session_id: "s1", event: "response", id: "p1", cmd: "prompt", success: true, runner_id: "r", ts: 1 });
    last().push({ channel: "files", session_id: "s1", type: "error", id: "f1", error: "path: `..` is not allowed" });
    await expect(ok).resolves.toMatchObject({ event: "response", id: "p1" });
    await expect(bad).rejects.toThrow("path: `..` is not allowed");
  });

  it("reconnects with growing backoff and re-attaches before sending what waited", () => {
    const { client, sockets, last, advance } = harness();
    const opens: boolean[] = [];
    client.onOpen((reconnected) => {
      opens.push(reconnected);
      if (reconnected) client.send({ channel: "agent", session_id: "s1", id: "attach", cmd: "session.create", config: { harness: "pi" } } as OutgoingFrame);
    });
    client.start();
    last().accept();
    last().drop();
    expect(client.state).toMatchObject({ status: "reconnecting", attempt: 1 });
    client.send(prompt("while-down"));
    advance(backoffDelay(0, undefined, () => 1) - 1);
    expect(sockets.length).toBe(1);
    advance(1);
    expect(sockets.length).toBe(2);
    last().drop();
    expect(client.state).toMatchObject({ status: "reconnecting", attempt: 2 });
    advance(backoffDelay(1, undefined, () => 1));
    expect(sockets.length).toBe(3);
    last().accept();
    expect(opens).toEqual([false, true]);
    expect(last().frames().map((f) => f.id)).toEqual(["attach", "while-down"]);
    // Backoff starts over after a good connection.
    last().drop();
    expect(client.state).toMatchObject({ status: "reconnecting", attempt: 1 });
  });

  it("fails a request that was on the wire when the connection dropped, keeps one that was not", async () => {
    const { client, last, advance } = harness();
    client.start();
    last().accept();
    const lost = client.request(prompt("on-wire"));
    last().drop();
    await expect(lost).rejects.toThrow("lost before the reply");
    const held = client.request(prompt("held"));
    advance(10_000);
    last().accept();
    last().push({ channel: "agent", session_id: "s1", event: "response", id: "held", cmd: "prompt", success: true, runner_id: "r", ts: 1 });
    await expect(held).resolves.toMatchObject({ id: "held" });
  });

  it("treats a silent connection as dead and reconnects", () => {
    const { client, sockets, last, advance } = harness();
    client.start();
    last().accept();
    advance(10_000);
    last().push({ channel: "system", type: "ping" });
    advance(24_000);
    expect(client.state.status).toBe("open");
    advance(1_001);
    expect(sockets[0]!.closed).toBe(true);
    expect(client.state.status).toBe("reconnecting");
  });

  it("times a request out with a message naming it", async () => {
    const { client, last, advance } = harness();
    client.start();
    last().accept();
    const request = client.request(prompt("slow"), 5_000);
    advance(5_000);
    await expect(request).rejects.toThrow("no reply to agent prompt within 5 s");
  });

  it("hands the recorded frames of the real bridge to listeners, pings and greetings excepted", () => {
    const { client, last } = harness();
    const seen: ServerFrame[] = [];
    client.onFrame((f) => seen.push(f));
    client.start();
    last().accept();
    const stream = recorded("demo-session.jsonl");
    last().push({ channel: "system", type: "ping" });
    for (const frame of stream) last().push(frame);
    last().onmessage?.({ data: "not json" });
    expect(seen).toEqual(stream);
  });

  it("stops for good: nothing reconnects and pending requests fail", async () => {
    const { client, sockets, last, advance } = harness();
    client.start();
    last().accept();
    const pending = client.request(prompt("p"));
    client.stop();
    await expect(pending).rejects.toThrow("closed");
    advance(60_000);
    expect(sockets.length).toBe(1);
    expect(client.state.status).toBe("closed");
  });
});
