/** What a user may type as the name of a file or folder, checked before anything is sent: the
 * bridge refuses `..` and absolute paths too, but a name with `/` would silently become a path
 * (a file in another folder), and the bridge cannot tell that from what the user meant. */

/** Linux's NAME_MAX: longer names fail in the kernel with an unhelpful error. */
export const MAX_NAME_BYTES = 255;

/** Why `name` cannot name an entry, in words for the user; null when it can. */
export function nameProblem(name: string): string | null {
  if (name.trim() === "") return "Enter a name.";
  if (name === "." || name === "..") return `“${name}” is not a name: it means this folder or the one above.`;
  if (name.includes("/")) return "A name cannot contain “/”: choose the folder separately.";
  // Control characters (line breaks, NUL) make names that shells and listings mangle.
  if (/[\u0000-\u001f\u007f]/.test(name)) return "A name cannot contain control characters such as line breaks.";
  if (name !== name.trim()) return "A name cannot start or end with a space.";
  if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) return `A name can be at most ${MAX_NAME_BYTES} bytes long.`;
  return null;
}
