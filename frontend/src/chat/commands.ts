/** The slash-command menu: Pi's commands (`get_commands`: extensions' commands, prompt
 * templates, skills) offered while the message starts with "/". */

export interface AgentCommand {
  name: string;
  description?: string;
  source?: string;
}

/** The commands of a `get_commands` answer; anything malformed is left out. */
export function parseCommands(data: unknown): AgentCommand[] {
  const list = Array.isArray(data) ? data : data && typeof data === "object" && Array.isArray((data as { commands?: unknown }).commands) ? (data as { commands: unknown[] }).commands : [];
  const out: AgentCommand[] = [];
  for (const item of list) {
    if (!item || typeof item !== "object") continue;
    const c = item as Record<string, unknown>;
    if (typeof c.name !== "string" || !/^[\w][\w:.-]*$/.test(c.name)) continue;
    out.push({
      name: c.name,
      description: typeof c.description === "string" ? c.description : undefined,
      source: typeof c.source === "string" ? c.source : undefined,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The word being typed after a leading "/", or null when the menu has nothing to do (no
 * slash, or the command is finished by a space). */
export function slashWord(text: string): string | null {
  const match = /^\/([\w:.-]*)$/.exec(text);
  return match ? match[1]! : null;
}

/** Commands matching the word: prefix matches first, then the ones containing it. */
export function matchCommands(commands: AgentCommand[], word: string): AgentCommand[] {
  const w = word.toLowerCase();
  const prefix = commands.filter((c) => c.name.toLowerCase().startsWith(w));
  const inside = commands.filter((c) => !c.name.toLowerCase().startsWith(w) && c.name.toLowerCase().includes(w));
  return [...prefix, ...inside].slice(0, 12);
}
