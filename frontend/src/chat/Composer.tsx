import { useEffect, useRef, useState, type ClipboardEvent, type DragEvent, type KeyboardEvent } from "react";
import { bytesToBase64 } from "../files/base64";
import { dataUrl, promptImages, refusal, type Attachment } from "./attachments";
import { matchCommands, slashWord, type AgentCommand } from "./commands";
import { composerKey, type SendMode } from "./keys";

/** The message box: text, images (button, paste, drop), the slash-command menu, and the send,
 * steer, follow-up and stop actions. */
export function Composer({
  working,
  disabled,
  onSend,
  onAbort,
  loadCommands,
}: {
  working: boolean;
  disabled: boolean;
  onSend: (mode: SendMode, text: string, images: { data: string; media_type: string }[]) => void;
  onAbort: () => void;
  loadCommands: () => Promise<AgentCommand[]>;
}) {
  const [text, setText] = useState("");
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [attachError, setAttachError] = useState<string | null>(null);
  const [commands, setCommands] = useState<AgentCommand[] | null>(null);
  const [choice, setChoice] = useState(0);
  const [menuClosed, setMenuClosed] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const box = useRef<HTMLTextAreaElement>(null);

  const word = slashWord(text);
  const matches = word !== null && commands && !menuClosed ? matchCommands(commands, word) : [];
  useEffect(() => {
    if (word !== null && commands === null) {
      loadCommands()
        .then(setCommands)
        .catch(() => setCommands([]));
    }
  }, [word, commands, loadCommands]);
  useEffect(() => setChoice(0), [word]);

  const attach = async (files: File[]) => {
    setAttachError(null);
    let next = attachments;
    for (const file of files) {
      const why = refusal(file, next);
      if (why) {
        setAttachError(why);
        continue;
      }
      const data = bytesToBase64(new Uint8Array(await file.arrayBuffer()));
      next = [...next, { id: `${file.name}-${next.length}-${file.size}`, name: file.name, mediaType: file.type, data, bytes: file.size }];
    }
    setAttachments(next);
  };

  // Images go with a prompt: Pi takes none with a steer or a follow-up.
  const imagesBlocked = working && attachments.length > 0;
  const submit = (mode: SendMode) => {
    const message = text.trim();
    if (!message || imagesBlocked) return;
    onSend(mode, message, mode === "prompt" ? promptImages(attachments) : []);
    setText("");
    if (mode === "prompt") setAttachments([]);
  };
  const pick = (command: AgentCommand) => {
    setText(`/${command.name} `);
    setMenuClosed(true);
    box.current?.focus();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (matches.length > 0) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setChoice((c) => (c + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length);
        return;
      }
      if (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey)) {
        e.preventDefault();
        pick(matches[Math.min(choice, matches.length - 1)]!);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setMenuClosed(true);
        return;
      }
    }
    const action = composerKey({ key: e.key, shiftKey: e.shiftKey, altKey: e.altKey, composing: e.nativeEvent.isComposing }, working);
    if (action === "abort") onAbort();
    else if (action) {
      e.preventDefault();
      submit(action.send);
    }
  };
  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    const files = [...e.clipboardData.files];
    if (files.length > 0) {
      e.preventDefault();
      void attach(files);
    }
  };
  const onDrop = (e: DragEvent<HTMLFormElement>) => {
    if (e.dataTransfer.files.length === 0) return;
    e.preventDefault();
    void attach([...e.dataTransfer.files]);
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit(working ? "steer" : "prompt");
      }}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes("Files")) e.preventDefault();
      }}
      onDrop={onDrop}
    >
      <div className="composer-input">
        {matches.length > 0 && (
          <ul className="command-menu" role="listbox" aria-label="commands">
            {matches.map((c, i) => (
              <li
                key={c.name}
                role="option"
                aria-selected={i === choice}
                className={i === choice ? "active" : undefined}
                onMouseDown={(e) => {
                  e.preventDefault();
                  pick(c);
                }}
              >
                <span className="command-name">/{c.name}</span>
                {c.description && <span className="muted small"> {c.description}</span>}
              </li>
            ))}
          </ul>
        )}
        {attachments.length > 0 && (
          <ul className="attachments" aria-label="attached images">
            {attachments.map((a) => (
              <li key={a.id}>
                <img src={dataUrl(a.mediaType, a.data) ?? undefined} alt={a.name} />
                <button type="button" className="ghost icon" aria-label={`remove ${a.name}`} onClick={() => setAttachments(attachments.filter((x) => x.id !== a.id))}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        <textarea
          ref={box}
          aria-label="message to the agent"
          placeholder={working ? "Steer the agent (Enter), queue a follow-up (Alt+Enter), stop (Esc)" : "Message the agent (Enter sends, Shift+Enter for a new line, / for commands)"}
          value={text}
          rows={2}
          disabled={disabled}
          onChange={(e) => {
            setText(e.target.value);
            setMenuClosed(false);
          }}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
        />
        {(attachError || imagesBlocked) && (
          <p className="error small" role="alert">
            {attachError ?? "Images go with a new prompt: wait until the agent is idle, or remove them."}
          </p>
        )}
      </div>
      <div className="composer-actions">
        <input
          ref={picker}
          type="file"
          accept="image/png,image/jpeg,image/gif,image/webp"
          multiple
          hidden
          aria-label="image files"
          onChange={(e) => {
            void attach([...(e.target.files ?? [])]);
            e.target.value = "";
          }}
        />
        <button type="button" className="ghost" aria-label="attach images" title="Attach images (or paste, or drop them here)" disabled={disabled} onClick={() => picker.current?.click()}>
          Image
        </button>
        {working ? (
          <>
            <button type="submit" disabled={!text.trim() || imagesBlocked}>
              Steer
            </button>
            <button type="button" className="ghost" disabled={!text.trim() || imagesBlocked} onClick={() => submit("follow_up")}>
              Follow up
            </button>
            <button type="button" className="danger" onClick={onAbort}>
              Stop
            </button>
          </>
        ) : (
          <button type="submit" disabled={disabled || !text.trim()}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}
