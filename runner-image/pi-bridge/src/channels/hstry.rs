//! The `hstry` channel: `query {session_id?, query?, limit?}` answered from hstry over gRPC.
//! With a session id it returns that conversation's messages; without, a full-text search.

use oqto_proto::mux::{HstryEvent, HstryRequest, ServerFrame};
use serde_json::{Value, json};

use crate::history::History;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 200;

pub fn error_frame(id: Option<String>, error: String) -> ServerFrame {
    ServerFrame::Hstry(HstryEvent::Error { id, error })
}

pub async fn handle(history: &History, request: HstryRequest) -> ServerFrame {
    let HstryRequest::Query {
        id,
        session_id,
        query,
        limit,
    } = request;
    match query_result(history, session_id, query, limit).await {
        Ok(data) => ServerFrame::Hstry(HstryEvent::Result { id, data }),
        Err(error) => error_frame(id, error),
    }
}

async fn query_result(
    history: &History,
    session_id: Option<String>,
    query: Option<String>,
    limit: Option<i64>,
) -> Result<Value, String> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => return Err(format!("limit: {n} is not between 1 and {MAX_LIMIT}")),
    };
    let query = query.filter(|q| !q.trim().is_empty());
    match (session_id, query) {
        (Some(session_id), None) => {
            crate::agent::registry::validate_session_id(&session_id)?;
            let messages = history
                .messages(&session_id)
                .await
                .map_err(|e| e.to_string())?;
            serde_json::to_value(messages).map_err(|e| e.to_string())
        }
        (Some(_), Some(query)) => Err(format!(
            "query: {query:?} with session_id is not supported (send one or the other)"
        )),
        (None, Some(query)) => {
            let hits = history
                .search(&query, limit)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Value::Array(
                hits.into_iter()
                    .map(|hit| {
                        json!({
                            "message_id": hit.message_id,
                            "conversation_id": hit.conversation_id,
                            "session_id": hit.external_id,
                            "message_idx": hit.message_idx,
                            "role": hit.role,
                            "content": hit.content,
                            "snippet": hit.snippet,
                            "created_at": hit.created_at_ms,
                            "score": hit.score,
                            "title": hit.title,
                        })
                    })
                    .collect(),
            ))
        }
        (None, None) => Ok(json!({"hits": [], "total": 0})),
    }
}
