//! The operations themselves, over a cap-std handle on the workspace directory. They block:
//! callers run them on tokio's blocking pool.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata, OpenOptions};
use serde::Serialize;

use super::{FileError, WorkspacePath};

/// Reads return at most this much content and say `truncated`.
pub const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;
/// Tree walks stop after this many entries.
pub const MAX_TREE_ENTRIES: usize = 5000;
pub const MAX_TREE_DEPTH: u32 = 8;

/// The workspace directory; every operation resolves inside it.
pub struct Workspace {
    root: Dir,
}

pub use oqto_proto::mux::{DirEntry, EntryType, FileStat as EntryStat, TreeEntry};

/// A tree walk's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeListing {
    pub entries: Vec<TreeEntry>,
    pub truncated: bool,
    pub visited_nodes: usize,
}

fn modified_ms(meta: &Metadata) -> Option<i64> {
    let modified = meta.modified().ok()?.into_std();
    modified
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as i64)
}

fn entry_type(meta: &Metadata) -> EntryType {
    let ft = meta.file_type();
    if ft.is_symlink() {
        EntryType::Symlink
    } else if ft.is_dir() {
        EntryType::Directory
    } else {
        EntryType::File
    }
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

impl Workspace {
    /// Opens the workspace root (created if missing).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        Ok(Self {
            root: Dir::open_ambient_dir(root, ambient_authority())?,
        })
    }

    pub fn list(
        &self,
        path: &WorkspacePath,
        include_hidden: bool,
    ) -> Result<Vec<DirEntry>, FileError> {
        let io = |e| FileError::io("path", path, e);
        let mut entries = Vec::new();
        for entry in self.root.read_dir(path.as_dir_path()).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !include_hidden && is_hidden(&name) {
                continue;
            }
            let meta = entry.metadata().map_err(io)?;
            let ft = meta.file_type();
            entries.push(DirEntry {
                name,
                is_dir: ft.is_dir(),
                is_symlink: ft.is_symlink(),
                size: meta.len(),
                modified_at: modified_ms(&meta),
            });
        }
        entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
        Ok(entries)
    }

    /// Walks `path` down to `depth` levels, at most `limit` entries; symlinks are listed, never
    /// followed.
    pub fn tree(
        &self,
        path: &WorkspacePath,
        depth: u32,
        include_hidden: bool,
        limit: usize,
    ) -> Result<TreeListing, FileError> {
        let mut budget = TreeBudget {
            left: limit.min(MAX_TREE_ENTRIES),
            visited: 0,
            truncated: false,
        };
        let entries = self.walk(
            path,
            depth.clamp(1, MAX_TREE_DEPTH),
            include_hidden,
            &mut budget,
        )?;
        Ok(TreeListing {
            entries,
            truncated: budget.truncated,
            visited_nodes: budget.visited,
        })
    }

    fn walk(
        &self,
        path: &WorkspacePath,
        depth: u32,
        include_hidden: bool,
        budget: &mut TreeBudget,
    ) -> Result<Vec<TreeEntry>, FileError> {
        let mut nodes = Vec::new();
        for entry in self.list(path, include_hidden)? {
            if budget.left == 0 {
                budget.truncated = true;
                break;
            }
            budget.left -= 1;
            budget.visited += 1;
            let child_path = path.join(&entry.name);
            let entry_type = if entry.is_symlink {
                EntryType::Symlink
            } else if entry.is_dir {
                EntryType::Directory
            } else {
                EntryType::File
            };
            let children = if entry_type == EntryType::Directory && depth > 1 {
                Some(self.walk(&child_path, depth - 1, include_hidden, budget)?)
            } else {
                None
            };
            nodes.push(TreeEntry {
                path: child_path.display(),
                name: entry.name,
                entry_type,
                size: (entry_type == EntryType::File).then_some(entry.size),
                modified: entry.modified_at,
                children,
            });
        }
        Ok(nodes)
    }

    /// Reads a file; content beyond [`MAX_READ_BYTES`] is cut and reported as truncated.
    pub fn read(&self, path: &WorkspacePath) -> Result<(Vec<u8>, u64, bool), FileError> {
        let io = |e| FileError::io("path", path, e);
        let file = self.root.open(path.as_dir_path()).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if file.metadata().map_err(io)?.is_dir() {
            return Err(FileError::Refused {
                field: "path",
                path: path.display(),
                reason: "is a directory",
            });
        }
        let mut content = Vec::new();
        file.into_std()
            .take(MAX_READ_BYTES)
            .read_to_end(&mut content)
            .map_err(io)?;
        Ok((content, size, size > MAX_READ_BYTES))
    }

    pub fn write(
        &self,
        path: &WorkspacePath,
        content: &[u8],
        create_parents: bool,
    ) -> Result<(), FileError> {
        if path.is_root() {
            return Err(FileError::Refused {
                field: "path",
                path: path.display(),
                reason: "is the workspace root",
            });
        }
        if create_parents && let Some(parent) = path.parent().filter(|p| !p.is_root()) {
            self.root
                .create_dir_all(parent.as_dir_path())
                .map_err(|e| FileError::io("path", &parent, e))?;
        }
        self.root
            .write(path.as_dir_path(), content)
            .map_err(|e| FileError::io("path", path, e))
    }

    pub fn stat(&self, path: &WorkspacePath) -> Result<EntryStat, FileError> {
        let meta = self
            .root
            .symlink_metadata(path.as_dir_path())
            .map_err(|e| FileError::io("path", path, e))?;
        Ok(EntryStat {
            name: path
                .as_dir_path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: path.display(),
            entry_type: entry_type(&meta),
            size: meta.len(),
            modified_at: modified_ms(&meta),
            readonly: meta.permissions().readonly(),
        })
    }

    pub fn delete(&self, path: &WorkspacePath, recursive: bool) -> Result<(), FileError> {
        if path.is_root() {
            return Err(FileError::Refused {
                field: "path",
                path: path.display(),
                reason: "is the workspace root",
            });
        }
        let io = |e| FileError::io("path", path, e);
        let meta = self.root.symlink_metadata(path.as_dir_path()).map_err(io)?;
        if meta.is_dir() {
            if recursive {
                self.root.remove_dir_all(path.as_dir_path()).map_err(io)
            } else {
                self.root.remove_dir(path.as_dir_path()).map_err(io)
            }
        } else {
            self.root.remove_file(path.as_dir_path()).map_err(io)
        }
    }

    pub fn create_directory(
        &self,
        path: &WorkspacePath,
        create_parents: bool,
    ) -> Result<(), FileError> {
        let io = |e| FileError::io("path", path, e);
        if create_parents {
            self.root.create_dir_all(path.as_dir_path()).map_err(io)
        } else {
            self.root.create_dir(path.as_dir_path()).map_err(io)
        }
    }

    /// Renames or moves `from` to `to`; an existing target is replaced only with `overwrite`.
    pub fn rename(
        &self,
        from: &WorkspacePath,
        to: &WorkspacePath,
        overwrite: bool,
    ) -> Result<(), FileError> {
        self.refuse_root(from, "from")?;
        self.refuse_root(to, "to")?;
        self.check_target(to, overwrite)?;
        self.root
            .rename(from.as_dir_path(), &self.root, to.as_dir_path())
            .map_err(|e| FileError::io("from", from, e))
    }

    /// Copies a file or a directory tree.
    pub fn copy(
        &self,
        from: &WorkspacePath,
        to: &WorkspacePath,
        overwrite: bool,
    ) -> Result<(), FileError> {
        self.refuse_root(to, "to")?;
        self.check_target(to, overwrite)?;
        let meta = self
            .root
            .symlink_metadata(from.as_dir_path())
            .map_err(|e| FileError::io("from", from, e))?;
        if meta.is_dir() {
            if to.display().starts_with(&format!("{}/", from.display()))
                || from.is_root()
                || self.leads_into(to, from)
            {
                return Err(FileError::Refused {
                    field: "to",
                    path: to.display(),
                    reason: "is inside the source",
                });
            }
            self.root
                .create_dir_all(to.as_dir_path())
                .map_err(|e| FileError::io("to", to, e))?;
            for entry in self.list(from, true)? {
                self.copy(&from.join(&entry.name), &to.join(&entry.name), overwrite)?;
            }
            Ok(())
        } else if meta.file_type().is_symlink() {
            Err(FileError::Refused {
                field: "from",
                path: from.display(),
                reason: "is a symlink (not copied)",
            })
        } else if !meta.is_file() {
            // Opening a FIFO would wait for a writer forever.
            Err(FileError::Refused {
                field: "from",
                path: from.display(),
                reason: "is not a regular file",
            })
        } else {
            self.copy_file(from, to)
        }
    }

    /// Copies one file. Not cap-std's `Dir::copy`: on Linux it loops forever once the source is
    /// shorter than it was at the start, which copying a file onto itself (through a link or a
    /// hard link) does at once by truncating it.
    fn copy_file(&self, from: &WorkspacePath, to: &WorkspacePath) -> Result<(), FileError> {
        let from_io = |e| FileError::io("from", from, e);
        let to_io = |e| FileError::io("to", to, e);
        let mut source = self
            .root
            .open(from.as_dir_path())
            .map_err(from_io)?
            .into_std();
        let source_meta = source.metadata().map_err(from_io)?;
        let mut options = OpenOptions::new();
        options.write(true).create(true);
        let mut target = self
            .root
            .open_with(to.as_dir_path(), &options)
            .map_err(to_io)?
            .into_std();
        let target_meta = target.metadata().map_err(to_io)?;
        if (target_meta.dev(), target_meta.ino()) == (source_meta.dev(), source_meta.ino()) {
            return Err(FileError::Refused {
                field: "to",
                path: to.display(),
                reason: "is the source itself",
            });
        }
        target.set_len(0).map_err(to_io)?;
        target
            .set_permissions(source_meta.permissions())
            .map_err(to_io)?;
        std::io::copy(&mut source, &mut target).map_err(to_io)?;
        Ok(())
    }

    /// Whether `to`, links resolved, is `from` or inside it: a directory copied there would
    /// copy itself forever. `to` need not exist; its deepest existing ancestor is resolved.
    fn leads_into(&self, to: &WorkspacePath, from: &WorkspacePath) -> bool {
        let Ok(from) = self.root.canonicalize(from.as_dir_path()) else {
            return false;
        };
        let mut existing = to.as_dir_path().to_path_buf();
        let mut missing = Vec::new();
        loop {
            let at = if existing.as_os_str().is_empty() {
                Path::new(".")
            } else {
                existing.as_path()
            };
            if let Ok(mut resolved) = self.root.canonicalize(at) {
                resolved.extend(missing.iter().rev());
                return resolved.starts_with(&from);
            }
            match existing.file_name() {
                Some(name) => missing.push(name.to_owned()),
                None => return false,
            }
            existing.pop();
        }
    }

    fn check_target(&self, to: &WorkspacePath, overwrite: bool) -> Result<(), FileError> {
        if !overwrite && self.root.symlink_metadata(to.as_dir_path()).is_ok() {
            return Err(FileError::Exists {
                field: "to",
                path: to.display(),
            });
        }
        Ok(())
    }

    fn refuse_root(&self, path: &WorkspacePath, field: &'static str) -> Result<(), FileError> {
        if path.is_root() {
            return Err(FileError::Refused {
                field,
                path: path.display(),
                reason: "is the workspace root",
            });
        }
        Ok(())
    }
}

struct TreeBudget {
    left: usize,
    visited: usize,
    truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(&dir.path().join("ws")).unwrap();
        (dir, ws)
    }

    fn p(s: &str) -> WorkspacePath {
        WorkspacePath::parse(s, "path").unwrap()
    }

    #[test]
    fn write_read_list_stat_round_trip() {
        let (_d, ws) = ws();
        ws.write(&p("src/main.rs"), b"fn main() {}", true).unwrap();
        ws.write(&p(".hidden"), b"x", false).unwrap();
        let (content, size, truncated) = ws.read(&p("src/main.rs")).unwrap();
        assert_eq!(content, b"fn main() {}");
        assert_eq!((size, truncated), (12, false));
        let names: Vec<_> = ws
            .list(&p(""), false)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.is_dir))
            .collect();
        assert_eq!(names, [("src".to_owned(), true)]);
        assert_eq!(ws.list(&p(""), true).unwrap().len(), 2);
        let stat = ws.stat(&p("src/main.rs")).unwrap();
        assert_eq!(
            (stat.entry_type, stat.size, stat.name.as_str()),
            (EntryType::File, 12, "main.rs")
        );
    }

    #[test]
    fn tree_respects_depth_and_limit() {
        let (_d, ws) = ws();
        for f in ["a/b/c/d.txt", "a/x.txt", "e.txt"] {
            ws.write(&p(f), b"1", true).unwrap();
        }
        let shallow = ws.tree(&p(""), 1, false, 100).unwrap();
        assert_eq!(shallow.entries.len(), 2);
        assert!(shallow.entries[0].children.is_none());
        let deep = ws.tree(&p(""), 8, false, 100).unwrap();
        let a = &deep.entries[0];
        assert_eq!((a.name.as_str(), a.entry_type), ("a", EntryType::Directory));
        assert_eq!(a.children.as_ref().unwrap()[0].path, "a/b");
        let limited = ws.tree(&p(""), 8, false, 2).unwrap();
        assert!(limited.truncated);
        assert_eq!(limited.visited_nodes, 2);
    }

    #[test]
    fn symlinks_out_of_the_workspace_are_refused() {
        let (dir, ws) = ws();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("ws/link")).unwrap();
        std::os::unix::fs::symlink("../secret", dir.path().join("ws/rel")).unwrap();
        for link in ["link", "rel"] {
            let err = ws.read(&p(link)).unwrap_err();
            assert!(matches!(err, FileError::Escapes { .. }), "{link}: {err}");
            let err = ws.write(&p(link), b"x", false).unwrap_err();
            assert!(matches!(err, FileError::Escapes { .. }), "{link}: {err}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secret")).unwrap(),
            "s"
        );
        // Listing shows the link without following it.
        let entries = ws.list(&p(""), false).unwrap();
        assert!(entries.iter().all(|e| e.is_symlink));
    }

    #[test]
    fn copies_onto_or_into_their_source_through_links_are_refused() {
        let (d, ws) = ws();
        ws.write(&p("sub/f"), b"keep", true).unwrap();
        std::os::unix::fs::symlink(".", d.path().join("ws/self")).unwrap();
        std::fs::hard_link(d.path().join("ws/sub/f"), d.path().join("ws/hard")).unwrap();
        // Each of these recursed until the stack overflowed, or spun forever on a truncated file.
        for (from, to) in [
            ("sub", "self/sub/new"),
            ("sub", "self/sub"),
            ("sub/f", "self/sub/f"),
            ("sub/f", "hard"),
        ] {
            let err = ws.copy(&p(from), &p(to), true).unwrap_err();
            assert!(
                matches!(err, FileError::Refused { field: "to", .. }),
                "{from} → {to}: {err}"
            );
        }
        assert_eq!(ws.read(&p("sub/f")).unwrap().0, b"keep");
    }

    #[test]
    fn delete_rename_copy_move() {
        let (_d, ws) = ws();
        ws.write(&p("dir/f.txt"), b"hello", true).unwrap();
        ws.copy(&p("dir"), &p("copy"), false).unwrap();
        assert_eq!(ws.read(&p("copy/f.txt")).unwrap().0, b"hello");
        let err = ws.copy(&p("dir"), &p("copy"), false).unwrap_err();
        assert!(
            matches!(err, FileError::Exists { field: "to", .. }),
            "{err}"
        );
        ws.rename(&p("copy/f.txt"), &p("g.txt"), false).unwrap();
        assert!(matches!(
            ws.stat(&p("copy/f.txt")),
            Err(FileError::NotFound { .. })
        ));
        let err = ws.delete(&p("dir"), false).unwrap_err();
        assert!(
            matches!(err, FileError::Io { .. }),
            "non-empty directory needs recursive: {err}"
        );
        ws.delete(&p("dir"), true).unwrap();
        assert!(matches!(
            ws.delete(&p(""), true),
            Err(FileError::Refused { .. })
        ));
        assert!(matches!(
            ws.copy(&p("copy"), &p("copy/inner"), false),
            Err(FileError::Refused { .. })
        ));
    }
}
