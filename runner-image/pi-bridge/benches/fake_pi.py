#!/usr/bin/env python3
"""A stand-in for `pi --mode rpc` used only by the latency benchmark: on `prompt` it prints
LINES text deltas whose text is the wall-clock time (ns) at which the line was written, so the
reader can compute how long the line took to reach it. Everything else is answered minimally."""
import json
import os
import sys
import time

LINES = int(os.environ.get("FAKE_PI_LINES", "5000"))
PAUSE = float(os.environ.get("FAKE_PI_PAUSE_S", "0.0005"))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    command = json.loads(line)
    kind = command.get("type")
    reply = {"type": "response", "command": kind, "success": True}
    if "id" in command:
        reply["id"] = command["id"]
    if kind == "get_state":
        reply["data"] = {"sessionId": "bench", "sessionFile": None}
    emit(reply)
    if kind == "prompt":
        emit({"type": "agent_start"})
        emit({"type": "message_start", "message": {"role": "assistant", "content": []}})
        for _ in range(LINES):
            emit({"type": "message_update", "assistantMessageEvent": {
                "type": "text_delta", "contentIndex": 0, "delta": str(time.time_ns())}})
            time.sleep(PAUSE)
        emit({"type": "message_end", "message": {"role": "assistant", "content": [], "stopReason": "stop"}})
        emit({"type": "agent_end", "messages": []})
