//! The `files` channel: file operations rooted at the workspace. Every path goes through
//! [`WorkspacePath`] and then through a cap-std directory handle, so `..`, absolute paths and
//! symlinks that leave the workspace are all refused.

mod ops;
mod path;

pub use ops::{DirEntry, EntryStat, EntryType, MAX_READ_BYTES, TreeEntry, TreeListing, Workspace};
pub use path::WorkspacePath;

/// A file operation that failed; the message names the field and the path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{field}: invalid path {path:?}: {reason}")]
    InvalidPath {
        field: &'static str,
        path: String,
        reason: &'static str,
    },
    #[error("{field}: {path:?} leads outside the workspace")]
    Escapes { field: &'static str, path: String },
    #[error("{field}: {path:?} does not exist")]
    NotFound { field: &'static str, path: String },
    #[error("{field}: {path:?} already exists")]
    Exists { field: &'static str, path: String },
    #[error("{field}: {path:?} {reason}")]
    Refused {
        field: &'static str,
        path: String,
        reason: &'static str,
    },
    #[error("content: not valid base64: {0}")]
    BadContent(String),
    #[error("{field}: {path:?}: {source}")]
    Io {
        field: &'static str,
        path: String,
        source: std::io::Error,
    },
}

impl FileError {
    /// Classifies an I/O error of an operation on `path`. cap-std reports a path that resolves
    /// outside the root as `PermissionDenied` with its own message.
    pub fn io(field: &'static str, path: &WorkspacePath, source: std::io::Error) -> Self {
        let path = path.display();
        match source.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { field, path },
            std::io::ErrorKind::AlreadyExists => Self::Exists { field, path },
            std::io::ErrorKind::PermissionDenied if source.to_string().contains("outside") => {
                Self::Escapes { field, path }
            }
            _ => Self::Io {
                field,
                path,
                source,
            },
        }
    }
}
