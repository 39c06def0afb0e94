//! The service's errors: [`ServerError`] for starting and running, [`ApiError`]
//! for what a request gets back (a status and a JSON body naming the field or id).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use passeur_domain::DomainError;
use passeur_store::StoreError;
use serde::Serialize;
use thiserror::Error;

/// Result alias of the server crate.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// What can stop the service from starting or serving.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configuration is invalid; the message names the field (and the file or variable).
    #[error("configuration: {0}")]
    Config(String),
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading or running a retrieval model failed.
    #[error(transparent)]
    Retrieval(#[from] passeur_retrieval::RetrievalError),
    /// Loading or running the ranking model failed.
    #[error(transparent)]
    Ranking(#[from] passeur_ranking::RankingError),
    /// The vector index failed.
    #[error(transparent)]
    Index(#[from] passeur_index::IndexError),
    /// The text encoder failed.
    #[error(transparent)]
    Embed(#[from] passeur_embed::EmbedError),
    /// A data problem the service cannot serve with.
    #[error("{0}")]
    Data(String),
    /// Network or filesystem trouble.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The body of every error response: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// A stable machine-readable code (`invalid_field`, `unknown_id`, ...).
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
    /// The JSON path of the field at fault, or the parameter, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with a status, code, message and optional field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> ApiError {
        ApiError { status, body: ErrorBody { code, message: message.into(), field } }
    }

    /// 422: a field's value is not acceptable.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message, Some(field.into()))
    }

    /// 400: a query parameter is not acceptable.
    pub fn bad_param(param: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message, Some(param.to_owned()))
    }

    /// 404: no record with this id.
    pub fn not_found(kind: &str, field: &str, id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_id", format!("no {kind} with id {id:?}"), Some(field.to_owned()))
    }

    /// 403: the key's scope does not allow this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message, None)
    }

    /// 500: the service failed; the message is logged, the client gets a generic one.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the service failed; see its log", None)
    }

    /// 503: the service cannot answer now.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
    }

    /// The same error with its field prefixed (`events[3].` + `offer_id`).
    pub fn within(mut self, prefix: &str) -> ApiError {
        self.body.field = Some(match self.body.field.take() {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_owned(),
        });
        self
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a ErrorBody,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(Envelope { error: &self.body })).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::UnknownReference { field, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference", message, Some(field.to_owned()))
            }
            StoreError::AlreadyCancelled { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_cancelled", message, Some("booking_id".to_owned()))
            }
            StoreError::NotBookable { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_bookable", message, Some("offer_id".to_owned()))
            }
            StoreError::InBatch { index, source } => ApiError::from(*source).within(&format!("events[{index}]")),
            StoreError::Corrupt { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Io { .. }
            | StoreError::Sqlite(_)
            | StoreError::PostgresUnreachable { .. }
            | StoreError::Postgres(_) => ApiError::internal(message),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        let message = e.to_string();
        match e {
            DomainError::InvalidField { field, .. } => ApiError::invalid(field, message),
            DomainError::InsufficientCredit { .. } => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_credit", message, Some("amount_cents".to_owned()))
            }
            DomainError::UnknownCode { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_code", message, None)
            }
            DomainError::TaxonomyFile { .. } | DomainError::InvalidCreditRules(_) => ApiError::internal(message),
        }
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> ApiError {
        match e {
            ServerError::Store(s) => s.into(),
            other => ApiError::internal(other),
        }
    }
}
