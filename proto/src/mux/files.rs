use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A `files` request: `{channel:"files", type, id?, workspace_path?, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct FilesRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_path: Option<String>,
    #[serde(flatten)]
    pub op: FilesOp,
}

/// Paths are relative to the workspace root; `""` is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilesOp {
    Tree {
        #[serde(default)]
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        depth: Option<u32>,
        #[serde(default)]
        include_hidden: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        offset: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        limit: Option<u64>,
    },
    Read {
        path: String,
    },
    Write {
        path: String,
        /// Base64.
        content: String,
        #[serde(default)]
        create_parents: bool,
    },
    List {
        #[serde(default)]
        path: String,
        #[serde(default)]
        include_hidden: bool,
    },
    Stat {
        path: String,
    },
    Delete {
        path: String,
        #[serde(default)]
        recursive: bool,
    },
    CreateDirectory {
        path: String,
        #[serde(default)]
        create_parents: bool,
    },
    Rename {
        from: String,
        to: String,
    },
    Copy {
        from: String,
        to: String,
        #[serde(default)]
        overwrite: bool,
    },
    Move {
        from: String,
        to: String,
        #[serde(default)]
        overwrite: bool,
    },
}

impl FilesOp {
    pub const TYPES: [&'static str; 10] = [
        "tree",
        "read",
        "write",
        "list",
        "stat",
        "delete",
        "create_directory",
        "rename",
        "copy",
        "move",
    ];
}

/// `file`, `directory` or `symlink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Directory,
    Symlink,
}

/// One entry of a `list_result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    pub is_symlink: bool,
    #[ts(type = "number")]
    pub size: u64,
    /// Unix milliseconds.
    #[ts(type = "number | null")]
    pub modified_at: Option<i64>,
}

/// One node of a `tree_result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TreeEntry {
    pub name: String,
    pub path: String,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub modified: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<TreeEntry>>,
}

/// What `stat` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FileStat {
    pub name: String,
    pub path: String,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    #[ts(type = "number")]
    pub size: u64,
    #[ts(type = "number | null")]
    pub modified_at: Option<i64>,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilesEvent {
    TreeResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        entries: Vec<TreeEntry>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        truncated: Option<bool>,
        /// `timeout` or `max_nodes`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        visited_nodes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        next_offset: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        total_entries: Option<u64>,
    },
    ReadResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        /// Base64.
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        truncated: Option<bool>,
    },
    WriteResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        success: bool,
    },
    ListResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        entries: Vec<DirEntry>,
    },
    StatResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        stat: FileStat,
    },
    DeleteResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        success: bool,
    },
    CreateDirectoryResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        path: String,
        success: bool,
    },
    RenameResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        from: String,
        to: String,
        success: bool,
    },
    CopyResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        from: String,
        to: String,
        success: bool,
    },
    MoveResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        from: String,
        to: String,
        success: bool,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        error: String,
    },
}
