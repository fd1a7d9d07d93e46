//! Calls: the append-only event log and the `calls` projection folded from it.
//! Owns `call_events` and `calls`.
//!
//! Every accepted webhook is appended before we answer Twilio; then all events of that
//! call are folded ([`fold::fold`]) and the row is replaced, inside one transaction so
//! that concurrent callbacks of one call cannot overwrite each other with a stale fold.

//!
//! - [`writer`]: the event writer (group commit, dedupe, ownership, fold, upsert);
//! - [`fold`]: the pure fold of a call's events into its record;
//! - `store`: the writer's statements, through sqlx or its own SQLite connection;
//! - `pg_batch`: the writer's statements on PostgreSQL, a batch's rows as JSON;
//! - `row`: the `calls` columns, spelled once;
//! - [`queries`]: filters, list, detail, timeline, stats, deletes;
//! - [`rollups`]: the daily figures kept beside the rows.

pub mod erasure;
pub mod fold;
mod pg_batch;
mod queries;
pub mod rollups;
mod row;
mod store;
mod writer;

use sqlx::Row as _;

use crate::db::Db;
use crate::error::{AppError, AppResult};
pub use fold::{CallRecord, Event, EventKind, is_outbound};
pub use queries::*;
pub use store::{index_for_search, rebuild_search_index, search_backlog};
pub use writer::{EventWriter, NewEvent};

/// The tenant a call belongs to, once we have seen it.
pub async fn tenant_of_call(db: &Db, call_sid: &str) -> AppResult<Option<String>> {
    let row = sqlx::query("SELECT tenant_id FROM calls WHERE call_sid = $1")
        .bind(call_sid)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("tenant_id")).transpose()?)
}

/// An event as stored in `call_events`.
pub(super) fn event_from_row(r: &sqlx::any::AnyRow) -> Result<Event, AppError> {
    let kind: String = r.try_get("kind")?;
    let payload: String = r.try_get("payload")?;
    event_of(&kind, &payload, r.try_get("received_at")?)
}

/// An event from its stored columns.
pub(super) fn event_of(kind: &str, payload: &str, received_at: i64) -> Result<Event, AppError> {
    Ok(Event {
        kind: EventKind::parse(kind)
            .ok_or_else(|| AppError::Internal(format!("unknown event kind {kind}").into()))?,
        params: serde_json::from_str(payload).map_err(AppError::internal)?,
        received_at,
    })
}
