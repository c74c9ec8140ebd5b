/** Pure helpers of the Browser tab: where a pointer on the shown frame lands on the page, and
 * which keys go to the page as what. The page's own coordinates are CSS pixels of its viewport
 * (`frame.width` × `frame.height`); the frame is shown scaled to fit the pane. */

/** Modifier bits as the browser channel (and CDP) counts them. */
export function modifiers(e: { altKey: boolean; ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }): number {
  return (e.altKey ? 1 : 0) | (e.ctrlKey ? 2 : 0) | (e.metaKey ? 4 : 0) | (e.shiftKey ? 8 : 0);
}

export type Box = { left: number; top: number; width: number; height: number };

/** The page point under a pointer at (clientX, clientY) over the image shown in `box`, or null
 * outside it. Rounded to a tenth of a pixel, clamped to the viewport. */
export function pagePoint(clientX: number, clientY: number, box: Box, page: { width: number; height: number }): { x: number; y: number } | null {
  if (box.width <= 0 || box.height <= 0 || page.width <= 0 || page.height <= 0) return null;
  const fx = (clientX - box.left) / box.width;
  const fy = (clientY - box.top) / box.height;
  if (fx < 0 || fy < 0 || fx > 1 || fy > 1) return null;
  const round = (v: number, max: number) => Math.min(max, Math.max(0, Math.round(v * 10) / 10));
  return { x: round(fx * page.width, page.width), y: round(fy * page.height, page.height) };
}

export function mouseButton(button: number): "left" | "middle" | "right" {
  return button === 1 ? "middle" : button === 2 ? "right" : "left";
}

/** What a key press sends: printable characters carry their text (the page gets the character),
 * Enter a carriage return; other keys (arrows, Backspace, Tab) only their name. Shortcuts of the
 * UI's own (Ctrl/Meta with a letter) are left to the page too, except copy and paste, which the
 * browser handles (a paste arrives as text). */
export function keyText(e: { key: string; ctrlKey: boolean; metaKey: boolean; altKey: boolean }): string | undefined {
  if (e.ctrlKey || e.metaKey) return undefined;
  if (e.key === "Enter") return "\r";
  return [...e.key].length === 1 ? e.key : undefined;
}

/** The longest text the channel takes in one `text` frame. */
export const MAX_TEXT = 4096;

/** Splits a paste into frames the channel accepts. */
export function textChunks(text: string): string[] {
  const chars = [...text];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += MAX_TEXT) out.push(chars.slice(i, i + MAX_TEXT).join(""));
  return out;
}

/** Whether `url` may be sent as `navigate` (the runner refuses anything but http and https). */
export function navigable(url: string): string | null {
  const trimmed = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `http://${trimmed}`;
  try {
    const parsed = new URL(withScheme);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.toString() : null;
  } catch {
    return null;
  }
}
