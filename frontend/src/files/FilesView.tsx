import { useCallback, useEffect, useRef, useState } from "react";
import type { TreeEntry } from "../generated/TreeEntry";
import { newId } from "../mux/client";
import { useMux } from "../mux/context";
import { frameSession, type OutgoingFrame, type ServerFrame } from "../mux/frames";
import type { Attach } from "../session/useAttach";
import { bytesToBase64, textToBase64 } from "./base64";
import { EntryActions } from "./EntryActions";
import { FileViewer, type TextMode } from "./FileViewer";
import { NewFolderForm } from "./NewFolderForm";
import { ancestors, byLevel, isSameOrInside, moveTargets, remapPath } from "./paths";
import { downloadBlob, type Preview, previewOf, sameContents } from "./preview";
import { folders, joinPath, mergeTree, parentOf } from "./tree";
import { TreeList } from "./TreeList";

type Open = Preview;

const hiddenNote = (path: string) => ((path.split("/").pop() ?? "").startsWith(".") ? " (names starting with “.” are not listed here)" : "");

/** The workspace's files: tree, view, edit and save, upload, download, rename, move, delete and
 * new folders; refreshed when the agent has run a tool (it may have written something) and when
 * the browser tab is shown again (another tab may have changed something: the bridge sends no
 * change events). */
export function FilesView({ session, attach, visible }: { session: string; attach: Attach; visible: boolean }) {
  const mux = useMux();
  const [tree, setTree] = useState<TreeEntry[]>([]);
  const [listed, setListed] = useState(false);
  const [expanded, setExpandedState] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<Open | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  /** Where uploads and new folders go: the folder last clicked, or the open file's. */
  const [folder, setFolder] = useState("");
  const [acting, setActing] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [mode, setMode] = useState<TextMode>("edit");
  const upload = useRef<HTMLInputElement>(null);
  const openRef = useRef(open);
  openRef.current = open;
  /** The file the user asked for last: a slower reply for one asked before does not replace it. */
  const wanted = useRef<string | null>(null);
  // Read by refresh right after a rename or delete changed it, before React re-renders.
  const expandedRef = useRef(expanded);
  const setExpanded = (next: Set<string>) => {
    expandedRef.current = next;
    setExpandedState(next);
  };
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

  /** Reads `path` into the viewer; `follow` is a re-read of the open file, which keeps the view
   * (and its edits) unless the file changed and nothing else was opened meanwhile. */
  const readFile = useCallback(
    (path: string, follow = false) => {
      if (!follow) wanted.current = path;
      return files({ type: "read", path }).then((reply) => {
        if (wanted.current !== path) return;
        const result = reply as Extract<ServerFrame, { type: "read_result" }>;
        const read = previewOf(path, result.content, result.size ?? undefined, !!result.truncated);
        setOpen((current) => {
          if (!follow) return read;
          if (!current || current.path !== path) return current;
          if (current.kind === "text" && current.text !== current.saved) return current;
          return sameContents(current, read) ? current : read;
        });
      });
    },
    [files],
  );

  const refresh = useCallback(() => {
    setError(null);
    const levels = byLevel(expandedRef.current);
    levels
      .reduce<Promise<unknown>>((done, level) => done.then(() => Promise.all(level.map((dir) => loadDir(dir).catch(() => undefined)))), loadDir(""))
      .catch(fail("Listing the files failed"));
    const current = openRef.current;
    // An open file the user has not edited follows what the agent wrote.
    if (current && !(current.kind === "text" && current.text !== current.saved)) {
      readFile(current.path, true).catch(() => undefined);
    }
  }, [loadDir, readFile]);

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

  // Back to this browser tab: what was renamed or deleted in another is shown. Not on window
  // focus, which comes back each time the user clicks out of a PDF's frame.
  useEffect(() => {
    if (!attached || !visible) return;
    const shown = () => {
      if (document.visibilityState === "visible") refreshRef.current();
    };
    document.addEventListener("visibilitychange", shown);
    return () => document.removeEventListener("visibilitychange", shown);
  }, [attached, visible]);

  const toggle = (entry: TreeEntry) => {
    const next = new Set(expanded);
    if (next.has(entry.path)) next.delete(entry.path);
    else {
      next.add(entry.path);
      if (!entry.children) loadDir(entry.path).catch(fail(`Listing ${entry.path} failed`));
    }
    setExpanded(next);
    setFolder(entry.path);
  };

  const openFile = (entry: TreeEntry) => {
    setFolder(parentOf(entry.path));
    readFile(entry.path).catch(fail(`Opening ${entry.path} failed`));
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

  const uploadFiles = (list: File[]) => {
    for (const file of list) {
      const path = joinPath(folder, file.name);
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

  /** Renamed or moved: the open file (edits and all), expanded folders and the target folder
   * follow it, and the folder it went to is expanded to show it. Failures reach the panel. */
  const rename = (entry: TreeEntry, to: string) =>
    files({ type: "rename", from: entry.path, to }).then(() => {
      const from = entry.path;
      if (wanted.current) wanted.current = remapPath(wanted.current, from, to);
      setOpen((o) => (o && isSameOrInside(o.path, from) ? { ...o, path: remapPath(o.path, from, to) } : o));
      const next = new Set([...expandedRef.current].map((p) => remapPath(p, from, to)));
      for (const dir of ancestors(to)) next.add(dir);
      setExpanded(next);
      setFolder((f) => remapPath(f, from, to));
      setActing(null);
      setError(null);
      setNotice(`${parentOf(from) === parentOf(to) ? "Renamed" : "Moved"} ${from} to ${to}${hiddenNote(to)}`);
      refresh();
    });

  const remove = (entry: TreeEntry) =>
    files({ type: "delete", path: entry.path, recursive: entry.type === "directory" }).then(() => {
      const gone = (p: string) => isSameOrInside(p, entry.path);
      if (wanted.current && gone(wanted.current)) wanted.current = null;
      setOpen((o) => (o && gone(o.path) ? null : o));
      setExpanded(new Set([...expandedRef.current].filter((p) => !gone(p))));
      setFolder((f) => (gone(f) ? parentOf(entry.path) : f));
      setActing(null);
      setError(null);
      setNotice(`Deleted ${entry.path}`);
      refresh();
    });

  const createFolder = (path: string) =>
    files({ type: "create_directory", path, create_parents: false }).then(() => {
      setExpanded(new Set([...expandedRef.current, ...ancestors(path)]));
      setCreating(false);
      setError(null);
      setNotice(`Created the folder ${path}${hiddenNote(path)}`);
      refresh();
    });

  const dirtyPath = open?.kind === "text" && open.text !== open.saved ? open.path : null;
  return (
    <div className="files">
      <aside className="tree" aria-label="files">
        <div className="row">
          <button type="button" className="ghost" onClick={refresh} disabled={!attached}>
            Refresh
          </button>
          <button type="button" className="ghost" onClick={() => upload.current?.click()} disabled={!attached} title={`Upload into /${folder}`}>
            Upload
          </button>
          <button
            type="button"
            className="ghost"
            onClick={() => {
              setCreating(true);
              setActing(null);
            }}
            disabled={!attached || creating}
          >
            New folder
          </button>
          <input
            ref={upload}
            type="file"
            multiple
            hidden
            onChange={(e) => {
              const list = Array.from(e.target.files ?? []);
              e.target.value = ""; // the same file can be uploaded again
              uploadFiles(list);
            }}
            aria-label="upload files"
          />
        </div>
        {attached && (
          <p className="muted target">
            Uploads go to <code>/{folder}</code>
          </p>
        )}
        {creating && <NewFolderForm key={folder} folder={folder} onCreate={createFolder} onClose={() => setCreating(false)} />}
        {!attached && <p className="muted">Waiting for the runner…</p>}
        {attached && listed && tree.length === 0 && <p className="muted">No files yet.</p>}
        <TreeList
          entries={tree}
          expanded={expanded}
          selected={open?.path}
          acting={acting}
          onToggle={toggle}
          onOpen={openFile}
          onActions={(entry) => {
            setActing(acting === entry.path ? null : entry.path);
            setCreating(false);
          }}
          actions={(entry) => (
            <EntryActions
              key={entry.path}
              entry={entry}
              targets={moveTargets(folders(tree), entry)}
              loses={dirtyPath && isSameOrInside(dirtyPath, entry.path) ? dirtyPath : null}
              onRename={(to) => rename(entry, to)}
              onDelete={() => remove(entry)}
              onClose={() => setActing(null)}
            />
          )}
        />
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
          <FileViewer
            open={open}
            mode={mode}
            onMode={setMode}
            onEdit={(text) => {
              setNotice(null);
              setOpen((o) => (o && o.kind === "text" ? { ...o, text } : o));
            }}
            onSave={save}
            onDownload={download}
          />
        )}
      </div>
    </div>
  );
}
