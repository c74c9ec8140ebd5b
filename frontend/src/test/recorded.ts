/** Reads a recorded stream of the real bridge (see runner-image/pi-bridge/tests/frontend_recordings.rs). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ServerFrame } from "../mux/frames";

export function recorded(name: string): ServerFrame[] {
  const path = fileURLToPath(new URL(`./recorded/${name}`, import.meta.url));
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as ServerFrame);
}
