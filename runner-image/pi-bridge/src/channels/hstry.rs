//! The `hstry` channel: `query {query?, limit?}` answered from hstry over gRPC. Without a query
//! it returns the messages of the frame's session (this runner's); with one, a full-text search
//! of the runner's history.

use oqto_proto::mux::{HstryEvent, HstryRequest, SessionName};
use serde_json::{Value, json};

use crate::history::History;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 200;

pub async fn handle(history: &History, session: &SessionName, request: HstryRequest) -> HstryEvent {
    let HstryRequest::Query { id, query, limit } = request;
    match query_result(history, session, query, limit).await {
        Ok(data) => HstryEvent::Result { id, data },
        Err(error) => HstryEvent::Error { id, error },
    }
}

async fn query_result(
    history: &History,
    session: &SessionName,
    query: Option<String>,
    limit: Option<i64>,
) -> Result<Value, String> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => return Err(format!("limit: {n} is not between 1 and {MAX_LIMIT}")),
    };
    let query = query.filter(|q| !q.trim().is_empty());
    match query {
        None => {
            let messages = history
                .messages(session.as_str())
                .await
                .map_err(|e| e.to_string())?;
            serde_json::to_value(messages).map_err(|e| e.to_string())
        }
        Some(query) => {
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
    }
}
