import { Markdown } from "../chat/Markdown";
import { formatSize, MARKDOWN_RENDER_LIMIT, READ_LIMIT } from "./kind";
import { PdfFrame } from "./PdfFrame";
import type { Preview } from "./preview";

export type TextMode = "edit" | "preview";

/** The open file: its path and actions above; below, the editor, the rendered Markdown, the
 * image, the PDF, or what it is when none of these can show it. */
export function FileViewer({
  open,
  mode,
  onMode,
  onEdit,
  onSave,
  onDownload,
}: {
  open: Preview;
  mode: TextMode;
  onMode: (mode: TextMode) => void;
  onEdit: (text: string) => void;
  onSave: () => void;
  onDownload: () => void;
}) {
  const dirty = open.kind === "text" && open.text !== open.saved;
  const cut = open.kind === "text" || open.kind === "binary" ? open.truncated : false;
  const markdown = open.kind === "text" ? open.markdown : null;
  // What is rendered is what is typed, unsaved edits included.
  const rendering = markdown === "render" && mode === "preview";
  return (
    <>
      <div className="row">
        <code className="path">{open.path}</code>
        {dirty && <span className="badge">unsaved</span>}
        <span className="spacer" />
        {markdown && (
          <div className="segmented" role="group" aria-label="view">
            <button type="button" className="ghost" aria-pressed={!rendering} onClick={() => onMode("edit")}>
              Edit
            </button>
            <button
              type="button"
              className="ghost"
              aria-pressed={rendering}
              disabled={markdown === "too-large"}
              title={markdown === "too-large" ? `too large to render here (over ${formatSize(MARKDOWN_RENDER_LIMIT)}): edit it as text` : undefined}
              onClick={() => onMode("preview")}
            >
              Preview
            </button>
          </div>
        )}
        {open.kind === "text" && (
          <button type="button" onClick={onSave} disabled={!dirty || open.truncated} title={open.truncated ? "the file is too large to edit here" : undefined}>
            Save
          </button>
        )}
        {/* Bytes cut at the read limit would download as a broken file. */}
        <button type="button" className="ghost" onClick={onDownload} disabled={cut} title={cut ? `only the first ${formatSize(READ_LIMIT)} could be read: copy it out another way` : undefined}>
          Download
        </button>
      </div>
      {open.kind === "text" && !rendering && (
        <textarea
          className="editor"
          aria-label={`contents of ${open.path}`}
          spellCheck={false}
          value={open.text}
          readOnly={open.truncated}
          onChange={(e) => onEdit(e.target.value)}
          onKeyDown={(e) => {
            if ((e.ctrlKey || e.metaKey) && e.key === "s") {
              e.preventDefault();
              onSave();
            }
          }}
        />
      )}
      {open.kind === "text" && rendering && (
        <section className="md-preview" aria-label={`preview of ${open.path}`}>
          <Markdown text={open.text} />
        </section>
      )}
      {open.kind === "image" && <img className="preview" src={open.url} alt={open.path} />}
      {open.kind === "pdf" && <PdfFrame path={open.path} bytes={open.bytes} />}
      {open.kind === "binary" && (
        <p className="muted">
          {open.tooLarge
            ? `Too large to preview here: ${formatSize(open.size)}, and the viewer reads at most ${formatSize(READ_LIMIT)}.`
            : `A binary file of ${formatSize(open.size)}: download it to open it.`}
        </p>
      )}
    </>
  );
}
