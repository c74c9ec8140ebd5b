//! The `files` channel: requests become [`Workspace`] operations on a blocking thread (cap-std is
//! synchronous), answers become `<op>_result` frames, failures `error` frames naming the field.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oqto_proto::mux::{FilesEvent, FilesOp, FilesRequest};

use crate::files::{FileError, Workspace, WorkspacePath};

const DEFAULT_TREE_DEPTH: u32 = 2;
const DEFAULT_TREE_LIMIT: usize = 1000;

fn error_event(id: Option<String>, error: String) -> FilesEvent {
    FilesEvent::Error { id, error }
}

pub async fn handle(
    workspace: Arc<Workspace>,
    workspace_root: String,
    request: FilesRequest,
) -> FilesEvent {
    let id = request.id.clone();
    if let Some(path) = request
        .workspace_path
        .as_ref()
        .filter(|p| **p != workspace_root)
    {
        return error_event(
            id,
            format!("workspace_path: {path:?} is not this runner's workspace"),
        );
    }
    let op_id = id.clone();
    match tokio::task::spawn_blocking(move || run(&workspace, op_id, request.op)).await {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => error_event(id, e.to_string()),
        Err(e) => error_event(id, format!("the file operation failed: {e}")),
    }
}

fn run(workspace: &Workspace, id: Option<String>, op: FilesOp) -> Result<FilesEvent, FileError> {
    let parse = |raw: &str, field| WorkspacePath::parse(raw, field);
    Ok(match op {
        FilesOp::Tree {
            path,
            depth,
            include_hidden,
            limit,
            ..
        } => {
            let at = parse(&path, "path")?;
            let listing = workspace.tree(
                &at,
                depth.unwrap_or(DEFAULT_TREE_DEPTH),
                include_hidden,
                limit.map(|l| l as usize).unwrap_or(DEFAULT_TREE_LIMIT),
            )?;
            FilesEvent::TreeResult {
                id,
                path,
                entries: listing.entries,
                truncated: Some(listing.truncated),
                stop_reason: listing.truncated.then(|| "max_nodes".to_owned()),
                visited_nodes: Some(listing.visited_nodes as u64),
                next_offset: None,
                total_entries: None,
            }
        }
        FilesOp::Read { path } => {
            let (content, size, truncated) = workspace.read(&parse(&path, "path")?)?;
            FilesEvent::ReadResult {
                id,
                path,
                content: STANDARD.encode(content),
                size: Some(size),
                truncated: Some(truncated),
            }
        }
        FilesOp::Write {
            path,
            content,
            create_parents,
        } => {
            let bytes = STANDARD
                .decode(content.as_bytes())
                .map_err(|e| FileError::BadContent(e.to_string()))?;
            workspace.write(&parse(&path, "path")?, &bytes, create_parents)?;
            FilesEvent::WriteResult {
                id,
                path,
                success: true,
            }
        }
        FilesOp::List {
            path,
            include_hidden,
        } => {
            let entries = workspace.list(&parse(&path, "path")?, include_hidden)?;
            FilesEvent::ListResult { id, path, entries }
        }
        FilesOp::Stat { path } => {
            let stat = workspace.stat(&parse(&path, "path")?)?;
            FilesEvent::StatResult { id, path, stat }
        }
        FilesOp::Delete { path, recursive } => {
            workspace.delete(&parse(&path, "path")?, recursive)?;
            FilesEvent::DeleteResult {
                id,
                path,
                success: true,
            }
        }
        FilesOp::CreateDirectory {
            path,
            create_parents,
        } => {
            workspace.create_directory(&parse(&path, "path")?, create_parents)?;
            FilesEvent::CreateDirectoryResult {
                id,
                path,
                success: true,
            }
        }
        FilesOp::Rename { from, to } => {
            workspace.rename(&parse(&from, "from")?, &parse(&to, "to")?, false)?;
            FilesEvent::RenameResult {
                id,
                from,
                to,
                success: true,
            }
        }
        FilesOp::Move {
            from,
            to,
            overwrite,
        } => {
            workspace.rename(&parse(&from, "from")?, &parse(&to, "to")?, overwrite)?;
            FilesEvent::MoveResult {
                id,
                from,
                to,
                success: true,
            }
        }
        FilesOp::Copy {
            from,
            to,
            overwrite,
        } => {
            workspace.copy(&parse(&from, "from")?, &parse(&to, "to")?, overwrite)?;
            FilesEvent::CopyResult {
                id,
                from,
                to,
                success: true,
            }
        }
    })
}
