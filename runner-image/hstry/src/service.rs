//! The three gRPC services over the shared store. Handlers validate (in the store), run the
//! call on the blocking pool and map errors to gRPC codes. Logs carry ids and counts, never
//! message contents or search text.

use oqto_proto::hstry::read_service_server::ReadService;
use oqto_proto::hstry::search_service_server::SearchService;
use oqto_proto::hstry::write_service_server::WriteService;
use oqto_proto::hstry::{
    AppendMessagesRequest, AppendMessagesResponse, DeleteConversationRequest,
    DeleteConversationResponse, GetConversationRequest, GetConversationResponse,
    GetMessagesRequest, GetMessagesResponse, ListConversationsRequest, ListConversationsResponse,
    SearchRequest, SearchResponse, UpdateConversationRequest, UpdateConversationResponse,
    WriteConversationRequest, WriteConversationResponse,
};
use tonic::{Request, Response, Status};

use crate::store::{ConversationKey, SharedStore, StoreError};

/// Implements WriteService, ReadService and SearchService on one store.
#[derive(Clone)]
pub struct Hstry {
    store: SharedStore,
}

impl Hstry {
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }
}

fn to_status(err: StoreError) -> Status {
    match err {
        StoreError::InvalidArgument(err) => Status::invalid_argument(err.to_string()),
        StoreError::NotFound(what) => Status::not_found(what),
        other => {
            tracing::error!(error = %other, "store call failed");
            Status::internal("hstry storage error")
        }
    }
}

#[tonic::async_trait]
impl WriteService for Hstry {
    async fn write_conversation(
        &self,
        request: Request<WriteConversationRequest>,
    ) -> Result<Response<WriteConversationResponse>, Status> {
        let request = request.into_inner();
        let outcome = self
            .store
            .run(move |store| store.write_conversation(&request))
            .await
            .map_err(to_status)?;
        tracing::debug!(
            conversation_id = %outcome.conversation_id,
            written = outcome.messages_written,
            version = outcome.version,
            "write_conversation"
        );
        Ok(Response::new(WriteConversationResponse {
            conversation_id: outcome.conversation_id,
            messages_written: outcome.messages_written,
            version: outcome.version,
            message_count: outcome.message_count,
        }))
    }

    async fn append_messages(
        &self,
        request: Request<AppendMessagesRequest>,
    ) -> Result<Response<AppendMessagesResponse>, Status> {
        let request = request.into_inner();
        let outcome = self
            .store
            .run(move |store| store.append_messages(&request))
            .await
            .map_err(to_status)?;
        tracing::debug!(
            conversation_id = %outcome.conversation_id,
            written = outcome.messages_written,
            version = outcome.version,
            "append_messages"
        );
        Ok(Response::new(AppendMessagesResponse {
            conversation_id: outcome.conversation_id,
            messages_written: outcome.messages_written,
            version: outcome.version,
            message_count: outcome.message_count,
        }))
    }

    async fn update_conversation(
        &self,
        request: Request<UpdateConversationRequest>,
    ) -> Result<Response<UpdateConversationResponse>, Status> {
        let request = request.into_inner();
        let (conversation_id, version) = self
            .store
            .run(move |store| store.update_conversation(&request))
            .await
            .map_err(to_status)?;
        tracing::debug!(%conversation_id, version, "update_conversation");
        Ok(Response::new(UpdateConversationResponse {
            conversation_id,
            version,
        }))
    }

    async fn delete_conversation(
        &self,
        request: Request<DeleteConversationRequest>,
    ) -> Result<Response<DeleteConversationResponse>, Status> {
        let request = request.into_inner();
        let conversation_id = self
            .store
            .run(move |store| store.delete_conversation(&request.source_id, &request.external_id))
            .await
            .map_err(to_status)?;
        tracing::info!(%conversation_id, "deleted conversation");
        Ok(Response::new(DeleteConversationResponse {
            conversation_id,
        }))
    }
}

#[tonic::async_trait]
impl ReadService for Hstry {
    async fn get_conversation(
        &self,
        request: Request<GetConversationRequest>,
    ) -> Result<Response<GetConversationResponse>, Status> {
        let request = request.into_inner();
        let key = ConversationKey::from_fields(
            &request.conversation_id,
            &request.readable_id,
            &request.source_id,
            &request.external_id,
        )
        .map_err(|err| Status::invalid_argument(err.to_string()))?;
        let conversation = self
            .store
            .run(move |store| store.get_conversation(&key))
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetConversationResponse {
            conversation: Some(conversation),
        }))
    }

    async fn get_messages(
        &self,
        request: Request<GetMessagesRequest>,
    ) -> Result<Response<GetMessagesResponse>, Status> {
        let request = request.into_inner();
        let key = ConversationKey::from_fields(
            &request.conversation_id,
            &request.readable_id,
            &request.source_id,
            &request.external_id,
        )
        .map_err(|err| Status::invalid_argument(err.to_string()))?;
        let limit = request.limit;
        let (conversation_id, messages) = self
            .store
            .run(move |store| store.get_messages(&key, limit))
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetMessagesResponse {
            conversation_id,
            messages,
        }))
    }

    async fn list_conversations(
        &self,
        request: Request<ListConversationsRequest>,
    ) -> Result<Response<ListConversationsResponse>, Status> {
        let request = request.into_inner();
        let conversations = self
            .store
            .run(move |store| store.list_conversations(&request))
            .await
            .map_err(to_status)?;
        Ok(Response::new(ListConversationsResponse { conversations }))
    }
}

#[tonic::async_trait]
impl SearchService for Hstry {
    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let request = request.into_inner();
        let hits = self
            .store
            .run(move |store| store.search(&request))
            .await
            .map_err(to_status)?;
        tracing::debug!(hits = hits.len(), "search");
        Ok(Response::new(SearchResponse { hits }))
    }
}
