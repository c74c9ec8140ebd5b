import { useCallback, useEffect, useRef, useState } from "react";
import type { TreeEntry } from "../generated/TreeEntry";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import { frameSession, type OutgoingFrame, type ServerFrame } from "../mux/frames";
import type { Attach } from "../session/useAttach";
import { bytesToBase64, textToBase64 } from "./base64";
import { downloadBlob, type Preview, previewOf } from "./preview";
import { joinPath, mergeTree, parentOf, sortEntries } from "./tree";

type Open = Preview;

/** The workspace's files: tree, view, edit and save, upload, download; refreshed when the agent
 * has run a tool (it may have written something). */
export function FilesView({ session, attach, visible }: { session: string; attach: Attach; visible: boolean }) {
  const mux = useMux();
  const [tree, setTree] = useState<TreeEntry[]>([]);
  const [listed, setListed] = useState(false);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<Open | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const upload = useRef<HTMLInputElement>(null);
  const openRef = useRef(open);
  openRef.current = open;
  const attached = attach.status === "attached";

  const files = useCallback(
    (fields: Record<string, unknown>) => mux.request({ channel: "files", session_id: session, id: newId("f"), ...fields } as OutgoingFrame),
    [mux, session],
  );
  const fail = (what: string) => (e: unknown) => setError(`${what}: ${e instanceof Error ? e.message : String(e)}`);

  const loadDir = useCallback(
    (path: string) =>
      files({ type: "tree", path, depth: path ? 1 : 2, include_hidden: false }).then((reply) => {
        const entries = (reply as Extract<ServerFrame, { type: "tree_result" }>).entries ?? [];
        setTree((current) => mergeTree(current, path, entries));
        if (!path) setListed(true);
      }),
    [files],
  );

  const readFile = useCallback(
    (path: string) =>
      files({ type: "read", path }).then((reply) => {
        const result = reply as Extract<ServerFrame, { type: "read_result" }>;
        setOpen(previewOf(path, result.content, result.size ?? undefined, !!result.truncated));
      }),
    [files],
  );

  const refresh = useCallback(() => {
    setError(null);
    loadDir("")
      .then(() => Promise.all([...expanded].map((dir) => loadDir(dir).catch(() => undefined))))
      .catch(fail("Listing the files failed"));
    const current = openRef.current;
    // An open file the user has not edited follows what the agent wrote.
    if (current && !(current.kind === "text" && current.text !== current.saved)) {
      readFile(current.path).catch(() => undefined);
    }
  }, [loadDir, readFile, expanded]);

  useEffect(() => {
    if (attached && visible) refresh();
  }, [attached, visible, attach.status === "attached" ? attach.generation : 0]);

  // Live refresh: a finished tool run may have changed files.
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = mux.onFrame((frame) => {
      if (frame.channel === "agent" && frameSession(frame) === session && (frame.event === "tool.end" || frame.event === "agent.idle")) {
        clearTimeout(timer);
        timer = setTimeout(() => refreshRef.current(), 300);
      }
    });
    return () => {
      clearTimeout(timer);
      off();
    };
  }, [mux, session]);

  const toggle = (entry: TreeEntry) => {
    const next = new Set(expanded);
    if (next.has(entry.path)) next.delete(entry.path);
    else {
      next.add(entry.path);
      if (!entry.children) loadDir(entry.path).catch(fail(`Listing ${entry.path} failed`));
    }
    setExpanded(next);
  };

  const save = () => {
    if (!open || open.kind !== "text") return;
    const { path, text } = open;
    files({ type: "write", path, content: textToBase64(text), create_parents: true })
      .then(() => {
        setOpen((o) => (o && o.kind === "text" && o.path === path ? { ...o, saved: text } : o));
        setNotice(`Saved ${path}`);
      })
      .catch(fail(`Saving ${path} failed`));
  };

  const download = () => {
    if (!open) return;
    const bytes = open.kind === "text" ? new TextEncoder().encode(open.text) : open.bytes;
    const url = URL.createObjectURL(downloadBlob(bytes));
    const a = document.createElement("a");
    a.href = url;
    a.download = open.path.split("/").pop() ?? "file";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  const uploadFiles = (list: FileList | null) => {
    if (!list) return;
    const dir = open ? parentOf(open.path) : "";
    for (const file of Array.from(list)) {
      const path = joinPath(dir, file.name);
      file
        .arrayBuffer()
        .then((buffer) => files({ type: "write", path, content: bytesToBase64(new Uint8Array(buffer)), create_parents: true }))
        .then(() => {
          setNotice(`Uploaded ${path}`);
          refresh();
        })
        .catch(fail(`Uploading ${path} failed`));
    }
  };

  const dirty = open?.kind === "text" && open.text !== open.saved;
  return (
    <div className="files">
      <aside className="tree" aria-label="files">
        <div className="row">
          <button type="button" className="ghost" onClick={refresh} disabled={!attached}>
            Refresh
          </button>
          <button type="button" className="ghost" onClick={() => upload.current?.click()} disabled={!attached}>
            Upload
          </button>
          <input ref={upload} type="file" multiple hidden onChange={(e) => uploadFiles(e.target.files)} aria-label="upload files" />
        </div>
        {!attached && <p className="muted">Waiting for the runner…</p>}
        {attached && listed && tree.length === 0 && <p className="muted">No files yet.</p>}
        <TreeList entries={tree} expanded={expanded} selected={open?.path} onToggle={toggle} onOpen={(e) => readFile(e.path).catch(fail(`Opening ${e.path} failed`))} />
      </aside>
      <div className="viewer">
        {error && <p className="error" role="alert">{error}</p>}
        {notice && !error && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        {!open && <p className="muted">Pick a file to view or edit it.</p>}
        {open && (
          <>
            <div className="row">
              <code className="path">{open.path}</code>
              {dirty && <span className="badge">unsaved</span>}
              <span className="spacer" />
              {open.kind === "text" && (
                <button type="button" onClick={save} disabled={!dirty || open.truncated} title={open.truncated ? "the file is too large to edit here" : undefined}>
                  Save
                </button>
              )}
              <button type="button" className="ghost" onClick={download}>
                Download
              </button>
            </div>
            {open.kind === "text" && (
              <textarea
                className="editor"
                aria-label={`contents of ${open.path}`}
                spellCheck={false}
                value={open.text}
                readOnly={open.truncated}
                onChange={(e) => {
                  const text = e.target.value;
                  setNotice(null);
                  setOpen((o) => (o && o.kind === "text" ? { ...o, text } : o));
                }}
                onKeyDown={(e) => {
                  if ((e.ctrlKey || e.metaKey) && e.key === "s") {
                    e.preventDefault();
                    save();
                  }
                }}
              />
            )}
            {open.kind === "image" && <img className="preview" src={open.url} alt={open.path} />}
            {open.kind === "binary" && <p className="muted">A binary file of {open.size} bytes: download it to open it.</p>}
          </>
        )}
      </div>
    </div>
  );
}

function TreeList({
  entries,
  expanded,
  selected,
  onToggle,
  onOpen,
}: {
  entries: TreeEntry[];
  expanded: Set<string>;
  selected?: string;
  onToggle: (entry: TreeEntry) => void;
  onOpen: (entry: TreeEntry) => void;
}) {
  return (
    <ul className="tree-list" role="group">
      {sortEntries(entries).map((entry) => (
        <li key={entry.path}>
          {entry.type === "directory" ? (
            <>
              <button type="button" className="tree-item" aria-expanded={expanded.has(entry.path)} onClick={() => onToggle(entry)}>
                {expanded.has(entry.path) ? "▾" : "▸"} {entry.name}/
              </button>
              {expanded.has(entry.path) && entry.children && (
                <TreeList entries={entry.children} expanded={expanded} selected={selected} onToggle={onToggle} onOpen={onOpen} />
              )}
            </>
          ) : (
            <button type="button" className={`tree-item${selected === entry.path ? " selected" : ""}`} onClick={() => onOpen(entry)} aria-current={selected === entry.path}>
              {entry.name}
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}
