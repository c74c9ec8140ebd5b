/**
 * `ask_user`: a tool with which the agent asks its user a question and waits for the answer.
 *
 * Loaded by every Pi of the runner image (pi-bridge `--pi-extension`, set in the Containerfile).
 * The question goes through Pi's extension UI (`select` with options, `input` without), which
 * pi-bridge turns into `agent.input_needed`; the web UI shows it above the composer and sends the
 * answer back. Without an answer the tool gives up after ASK_TIMEOUT_MS (Pi resolves the
 * question itself) or when the run is stopped, so an agent nobody watches does not wait forever.
 *
 * No imports: the same file loads in both Pi lines the project supports (0.73 and 0.87, whose
 * packages have different names), and the parameters are plain JSON Schema, which both accept.
 */

const ASK_TIMEOUT_MS = 10 * 60_000;
const MAX_OPTIONS = 12;

type Text = { type: "text"; text: string };
type Result = { content: Text[]; details: { question: string; options: string[]; answer: string | null } };

function result(text: string, question: string, options: string[], answer: string | null): Result {
  return { content: [{ type: "text", text }], details: { question, options, answer } };
}

// `any`: Pi's ExtensionAPI type lives in a package whose name differs between the lines.
export default function askUser(pi: any) {
  pi.registerTool({
    name: "ask_user",
    label: "Ask the user",
    description:
      "Ask the user a question and wait for the answer. Use it for a decision or information only " +
      "the user has (which option to take, a name, a missing requirement), not for what you can " +
      "find out yourself. With `options` the user picks one of them; without, the user types the answer.",
    parameters: {
      type: "object",
      properties: {
        question: { type: "string", description: "The question, short and self-contained." },
        options: {
          type: "array",
          items: { type: "string" },
          description: `Answers to choose from (at most ${MAX_OPTIONS}); leave out for a free-text answer.`,
        },
      },
      required: ["question"],
      additionalProperties: false,
    },
    async execute(_toolCallId: string, params: any, signal: AbortSignal | undefined, _onUpdate: unknown, ctx: any) {
      const question = typeof params?.question === "string" ? params.question.trim() : "";
      const options: string[] = Array.isArray(params?.options)
        ? [...new Set<string>(params.options.filter((o: unknown): o is string => typeof o === "string" && o.trim() !== ""))]
        : [];
      if (!question) throw new Error("ask_user: `question` must not be empty");
      if (options.length > MAX_OPTIONS) throw new Error(`ask_user: at most ${MAX_OPTIONS} options, not ${options.length}`);
      if (!ctx?.hasUI) {
        return result("No user can be asked here (Pi runs without a UI): decide yourself and say what you assumed.", question, options, null);
      }
      const dialog = { signal, timeout: ASK_TIMEOUT_MS };
      const answer: string | undefined =
        options.length > 0 ? await ctx.ui.select(question, options, dialog) : await ctx.ui.input(question, undefined, dialog);
      if (answer === undefined || answer === null) {
        return result(
          `The user did not answer (cancelled, stopped, or no answer within ${ASK_TIMEOUT_MS / 60_000} minutes).`,
          question,
          options,
          null,
        );
      }
      return result(`The user answered: ${answer}`, question, options, String(answer));
    },
  });
}
