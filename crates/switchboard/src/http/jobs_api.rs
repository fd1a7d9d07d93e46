//! Admins see the job queue and act on failed and dead jobs.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Admin;
use crate::error::{AppError, AppResult};
use crate::jobs::{self, Job, JobState};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JobQuery {
    state: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/admin/jobs?state=queued|running|failed|dead|done&limit&offset`.
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
pub(crate) async fn discard(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> AppResult<axum::http::StatusCode> {
    jobs::discard(&state.db, &id).await?;
    tracing::info!(job = %id, by = %admin.0.user.id, "job discarded");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
