//! One error type for the whole service, rendered as RFC 9457 problem+json.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// Field name -> messages, the `errors` member of a 422 problem.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// The path exists, not with this method; carries the `Allow` header's value.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A delete refused because other records still depend on the row (409), with how
    /// many of each kind (`counts` in the problem body).
    #[error("in use: {0}")]
    InUse(String, BTreeMap<String, i64>),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("too many requests")]
    TooManyRequests,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// An upstream service (an identity provider) failed or answered nonsense (502).
    #[error("bad gateway: {0}")]
    BadGateway(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        AppError::Validation(errors)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            AppError::BadRequest(_) => ("bad-request", "Bad Request"),
            AppError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            AppError::Forbidden(_) => ("forbidden", "Forbidden"),
            AppError::NotFound => ("not-found", "Not Found"),
            AppError::MethodNotAllowed(_) => ("method-not-allowed", "Method Not Allowed"),
            AppError::Conflict(_) => ("conflict", "Conflict"),
            AppError::InUse(..) => ("in-use", "Conflict"),
            AppError::PreconditionFailed => ("precondition-failed", "Precondition Failed"),
            AppError::PayloadTooLarge => ("payload-too-large", "Payload Too Large"),
            AppError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported Media Type"),
            AppError::Validation(_) => ("validation", "Unprocessable Content"),
            AppError::TooManyRequests => ("too-many-requests", "Too Many Requests"),
            AppError::Unavailable(_) => ("unavailable", "Service Unavailable"),
            AppError::BadGateway(_) => ("bad-gateway", "Bad Gateway"),
            AppError::Internal(_) => ("internal", "Internal Server Error"),
        }
    }

    /// What the client is told. Causes of 5xx stay in the log.
    fn detail(&self) -> String {
        match self {
            AppError::BadRequest(m)
            | AppError::Unauthorized(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m)
            | AppError::InUse(m, _)
            | AppError::BadGateway(m) => m.clone(),
            AppError::NotFound => "The resource does not exist or is not visible to you.".into(),
            AppError::MethodNotAllowed(allow) => format!("This path answers {allow} only."),
            AppError::PreconditionFailed => "If-Match does not match the current ETag of the resource.".into(),
            AppError::PayloadTooLarge => "The request body is larger than allowed.".into(),
            AppError::UnsupportedMediaType => "The request body must be application/json.".into(),
            AppError::Validation(_) => "One or more fields are invalid.".into(),
            AppError::TooManyRequests => "Too many attempts; try again later.".into(),
            AppError::Unavailable(_) => "The database is unavailable; try again shortly.".into(),
            AppError::Internal(_) => "An unexpected error occurred.".into(),
        }
    }
}

/// RFC 9457 problem details, the body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the kind of problem, e.g. `urn:crm-api:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Present on 422 only: field name -> messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
    /// Present on a 409 that refuses a delete: how many records of each kind still
    /// depend on the one to delete (e.g. `{"contacts": 12}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<String, i64>>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) | AppError::InUse(..) => StatusCode::CONFLICT,
            AppError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (slug, title) = self.slug_and_title();
        let body = Problem {
            kind: format!("urn:crm-api:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                AppError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            counts: match self {
                AppError::InUse(_, counts) => Some(counts.clone()),
                _ => None,
            },
        };
        let mut resp = HttpResponse::build(status);
        resp.content_type("application/problem+json");
        match self {
            AppError::Unauthorized(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            AppError::MethodNotAllowed(allow) => {
                resp.insert_header((header::ALLOW, allow.as_str()));
            }
            AppError::TooManyRequests => {
                resp.insert_header((header::RETRY_AFTER, "60"));
            }
            AppError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match e {
            E::NotFound => AppError::NotFound,
            E::DatabaseError(K::UniqueViolation, info) => {
                tracing::debug!(message = info.message(), "unique violation");
                AppError::Conflict("A record with the same unique value already exists.".into())
            }
            E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, info) => {
                AppError::Unavailable(info.message().to_owned())
            }
            // A transaction whose connection died under it (database stopped mid-request):
            // the connection is discarded (`has_broken`), the client may retry.
            E::BrokenTransactionManager => AppError::Unavailable("the database connection was lost".into()),
            other => {
                let text = other.to_string();
                // SQLite reports a lock it could not get within the busy timeout this way.
                if text.contains("database is locked") {
                    AppError::Unavailable(text)
                } else {
                    AppError::Internal(text)
                }
            }
        }
    }
}

impl From<validator::ValidationErrors> for AppError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = FieldErrors::new();
        collect_validation(&errors, "", &mut out);
        AppError::Validation(out)
    }
}

fn collect_validation(errors: &validator::ValidationErrors, prefix: &str, out: &mut FieldErrors) {
    use validator::ValidationErrorsKind as Kind;
    for (field, kind) in errors.errors() {
        let name = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            Kind::Field(list) => {
                let messages = out.entry(name).or_default();
                for e in list {
                    messages.push(match &e.message {
                        Some(m) => m.to_string(),
                        None => format!("is invalid ({})", e.code),
                    });
                }
            }
            Kind::Struct(inner) => collect_validation(inner, &name, out),
            Kind::List(items) => {
                for (i, inner) in items {
                    collect_validation(inner, &format!("{name}[{i}]"), out);
                }
            }
        }
    }
}
