//! Admins see the job queue and act on failed and dead jobs.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Admin;
use crate::error::{AppError, AppResult};
use crate::jobs::{self, Job, JobState};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JobQuery {
    state: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/admin/jobs?state=queued|running|failed|dead|done&limit&offset`.
#[utoipa::path(
    get,
    path = "/api/admin/jobs",
    tag = "admin",
    summary = "Durable jobs",
    params(JobQuery),
    responses((status = 200, description = "Jobs", body = crate::http::openapi::JobPage), (status = 400, description = "The request could not be read", body = crate::http::openapi::ErrorBody), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid: per-field reasons in `error.fields`", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    q: Result<Query<JobQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<Value>> {
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let wanted = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            AppError::field("state", "must be queued, running, failed, dead or done")
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::field("offset", "must not be negative"));
    }
    let (list, total) = jobs::list(&state.db, wanted, limit, offset).await?;
    Ok(Json(
        json!({ "jobs": list, "total": total, "limit": limit, "offset": offset }),
    ))
}

/// `POST /api/admin/jobs/{id}/retry`: a failed or dead job runs again now.
#[utoipa::path(
    post,
    path = "/api/admin/jobs/{id}/retry",
    tag = "admin",
    summary = "Run a failed or dead job again",
    params(("id" = String, Path)),
    responses((status = 200, description = "The job", body = Job), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn retry(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    let job = jobs::retry(&state.db, &id).await?;
    tracing::info!(job = %id, by = %admin.0.user.id, "job retried");
    Ok(Json(job))
}

/// `POST /api/admin/jobs/{id}/discard`: a job that is not running is dropped.
#[utoipa::path(
    post,
    path = "/api/admin/jobs/{id}/discard",
    tag = "admin",
    summary = "Discard a job",
    params(("id" = String, Path)),
    responses((status = 204, description = "Discarded"), (status = 401, description = "No valid session or token", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not allowed for this user", body = crate::http::openapi::ErrorBody), (status = 404, description = "Not found, or another tenant's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Conflicts with existing data", body = crate::http::openapi::ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = crate::http::openapi::ErrorBody)),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn discard(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> AppResult<axum::http::StatusCode> {
    jobs::discard(&state.db, &id).await?;
    tracing::info!(job = %id, by = %admin.0.user.id, "job discarded");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
