//! The service's error type and its one mapping to HTTP.
//!
//! Every handler returns [`AppError`]; clients always get
//! `{"error":{"code":"…","message":"…","fields":{…}}}` with the matching status.
//! Internal causes are logged with the request's span and never sent to the client.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Field name → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request could not be read (malformed JSON, bad query string, …).
    #[error("{0}")]
    BadRequest(String),
    /// No valid session or token.
    #[error("authentication required")]
    Unauthorized,
    /// A login with a wrong email or password.
    #[error("email or password is incorrect")]
    InvalidCredentials,
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Nothing there — or nothing the caller may know about.
    #[error("not found")]
    NotFound,
    /// It was here and was deleted on purpose (erased media).
    #[error("{0}")]
    Gone(&'static str),
    /// Conflicts with existing data (a number another tenant owns, a taken email).
    #[error("{0}")]
    Conflict(String),
    /// A unique value another row already has: which field, and why.
    #[error("{message}")]
    Taken {
        /// The request's field (camelCase).
        field: &'static str,
        /// What is taken.
        message: &'static str,
    },
    /// Readable, but invalid; per-field reasons.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The body is larger than the endpoint accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The content type is not one the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// Too many attempts; try again after the given seconds.
    #[error("too many attempts; try again later")]
    RateLimited {
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// A `Range` outside the resource; `size` is its length when known.
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable {
        /// Bytes in the whole resource.
        size: Option<u64>,
    },
    /// The service is saturated (e.g. password hashing); try again after the given seconds.
    #[error("the service is busy; try again shortly")]
    Busy {
        /// Seconds until a retry is worthwhile.
        retry_after_secs: u64,
    },
    /// A dependency (Twilio) failed.
    #[error("{0}")]
    BadGateway(String),
    /// Our fault; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// A validation error on one field.
    pub fn field(name: &str, reason: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(name.to_owned(), reason.into());
        Self::Validation(fields)
    }

    /// Wraps an internal failure.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Gone(_) => (StatusCode::GONE, "gone"),
            Self::Conflict(_) | Self::Taken { .. } => (StatusCode::CONFLICT, "conflict"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "upstream_failed"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Unique constraints, by the name PostgreSQL gives them and the `table.column` list
/// SQLite reports, with the field a client sent and what to tell them.
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str, &str)] = &[
    (
        "users_email_key",
        "users.email",
        "email",
        "a user with this email already exists",
    ),
    (
        "phone_numbers_e164_key",
        "phone_numbers.e164",
        "phoneNumber",
        "this number is already connected",
    ),
    (
        "contacts_tenant_id_phone_key",
        "contacts.tenant_id, contacts.phone",
        "phone",
        "a contact with this number already exists",
    ),
];

/// The field a unique violation is about, from the constraint's name (PostgreSQL) or
/// the columns in the message (SQLite: `UNIQUE constraint failed: users.email`).
fn taken(db: &dyn sqlx::error::DatabaseError) -> Option<AppError> {
    let message = db.message();
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(pg, sqlite, _, _)| {
            db.constraint() == Some(*pg)
                || message
                    .strip_prefix("UNIQUE constraint failed: ")
                    .is_some_and(|cols| cols == *sqlite)
        })
        .map(|(_, _, field, message)| AppError::Taken { field, message })
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return taken(db.as_ref()).unwrap_or_else(|| Self::Conflict("already exists".into()));
        }
        Self::internal(e)
    }
}

/// The event writer's own SQLite connection (calls/store.rs): every failure there is
/// ours, not the client's.
impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    /// `false`, in the seed telephony module's shape only.
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
    /// The message again at the top, in the seed telephony module's shape only.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.render(false)
    }
}

/// An error of the seed telephony module's routes (`/api/telephony/*`), whose clients
/// read `{success: false, message}`: the same status and `error` object, with those two
/// fields added.
#[derive(Debug)]
pub struct SeedError(pub AppError);

impl From<AppError> for SeedError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for SeedError {
    fn into_response(self) -> Response {
        self.0.render(true)
    }
}

impl AppError {
    fn render(self, seed: bool) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "request failed");
        }
        let taken_field;
        let fields = match &self {
            Self::Validation(fields) => Some(fields),
            Self::Taken { field, message } => {
                taken_field = FieldErrors::from([((*field).to_owned(), (*message).to_owned())]);
                Some(&taken_field)
            }
            _ => None,
        };
        let body = Body {
            success: seed.then_some(false),
            message: seed.then(|| self.to_string()),
            error: Inner {
                code,
                message: self.to_string(),
                fields,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::RangeNotSatisfiable { size: Some(size) } = self
            && let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        if let Self::RateLimited { retry_after_secs } | Self::Busy { retry_after_secs } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Result alias for handlers and domain functions.
pub type AppResult<T> = Result<T, AppError>;
