//! Client paths, checked before they touch the file system: relative to the workspace, no `..`,
//! no NUL. Symlinks that lead out of the workspace are refused later by cap-std, which resolves
//! every path inside the workspace directory handle.

use std::path::{Component, Path, PathBuf};

use super::FileError;

/// A path inside the workspace, relative to its root; empty means the root itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath(PathBuf);

impl WorkspacePath {
    /// Validates a path as a client sent it. `field` names the frame field in errors.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, FileError> {
        if raw.contains('\0') {
            return Err(FileError::InvalidPath {
                field,
                path: raw.escape_default().to_string(),
                reason: "contains NUL",
            });
        }
        let path = Path::new(raw);
        let mut clean = PathBuf::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => clean.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(FileError::InvalidPath {
                        field,
                        path: raw.into(),
                        reason: "must not contain '..'",
                    });
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(FileError::InvalidPath {
                        field,
                        path: raw.into(),
                        reason: "must be relative to the workspace, not absolute",
                    });
                }
            }
        }
        Ok(Self(clean))
    }

    pub fn is_root(&self) -> bool {
        self.0.as_os_str().is_empty()
    }

    /// The path for cap-std calls (`.` for the root).
    pub fn as_dir_path(&self) -> &Path {
        if self.is_root() {
            Path::new(".")
        } else {
            &self.0
        }
    }

    /// The path as the client sees it: relative, `/`-separated, empty for the root.
    pub fn display(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    pub fn join(&self, name: &str) -> Self {
        Self(self.0.join(name))
    }

    pub fn parent(&self) -> Option<Self> {
        if self.is_root() {
            None
        } else {
            Some(Self(
                self.0.parent().map(Path::to_path_buf).unwrap_or_default(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalised() {
        assert_eq!(
            WorkspacePath::parse("src/./main.rs", "path")
                .unwrap()
                .display(),
            "src/main.rs"
        );
        assert!(WorkspacePath::parse("", "path").unwrap().is_root());
        assert!(WorkspacePath::parse(".", "path").unwrap().is_root());
        assert_eq!(
            WorkspacePath::parse("a/b", "path")
                .unwrap()
                .parent()
                .unwrap()
                .display(),
            "a"
        );
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused_naming_the_field() {
        for (raw, reason) in [
            ("../etc/passwd", "'..'"),
            ("a/../../b", "'..'"),
            ("a/..", "'..'"),
            ("/etc/passwd", "absolute"),
            ("a\0b", "NUL"),
        ] {
            let err = WorkspacePath::parse(raw, "from").unwrap_err().to_string();
            assert!(err.contains("from") && err.contains(reason), "{raw}: {err}");
        }
    }
}
