//! The event writer's batch on PostgreSQL. A batch's rows travel as one JSON document
//! per statement (`json_populate_recordset` over the table's own row type), so every
//! statement has one text whatever the batch's size: prepared once per connection and
//! cheap to plan. Multi-row `VALUES` lists made a new statement for each batch size —
//! hundreds of parameters to parse and plan, and more texts than the connection's
//! statement cache keeps — and PostgreSQL spent most of a batch planning them.
//!
//! A new call's batch is five round trips: `BEGIN`; the call locks and the append; the
//! stored rows and deleted markers; the rows and rollups; `COMMIT` (a stored call's
//! batch reads its events too). The writer runs them on a connection it keeps (see
//! `super::writer`).

use sqlx::Row as _;

use super::fold::Event;
use super::rollups::{self, Deltas, RowFacts};
use super::row;
use super::store::{self, BatchStore, CallWrite, EventRow, Stored};
use crate::error::{AppError, AppResult};

/// A batch's transaction on PostgreSQL, on the connection its writer keeps.
pub(super) struct PgBatch<'c> {
    tx: sqlx::Transaction<'c, sqlx::Any>,
    /// The rollup shard its writer adds to.
    shard: u16,
}

/// How a batch begins. Every statement of a batch finds or writes rows by key, so one
/// generic plan serves every run: the sessions' `force_custom_plan` (see
/// `crate::db`) would plan each of them again each batch, a tenth of a millisecond a
/// statement. Without sequential scans, a generic plan made while the tables were still
/// empty is an index plan too, and stays right as they grow — the trap that made the
/// sessions plan each run.
const BEGIN: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off";

impl<'c> PgBatch<'c> {
    pub(super) async fn begin(conn: &'c mut sqlx::AnyConnection, shard: u16) -> AppResult<Self> {
        Ok(Self {
            tx: sqlx::Connection::begin_with(conn, BEGIN).await?,
            shard,
        })
    }
}

/// Takes each of the batch's calls' advisory locks ($1: the sids), in the order of the
/// locks' keys, so two processes never fold one call at once nor deadlock; then appends
/// the events ($2: their rows), skipping those whose dedupe key is stored already.
///
/// The locks come first: the insert reads the aggregate's one row, which exists only
/// once every lock is held. An event appended before its call's lock could wait on
/// another batch's uncommitted copy of itself while that batch waits on the lock.
static LOCK_AND_APPEND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH locked AS MATERIALIZED (
             SELECT count(pg_advisory_xact_lock(key)) AS locks
             FROM (SELECT DISTINCT hashtext(sid) AS key
                   FROM json_array_elements_text($1::json) AS batch(sid)
                   ORDER BY key) AS sorted)
         INSERT INTO call_events ({cols})
         SELECT e.tenant_id, e.call_sid, e.kind, e.dedupe_key, e.payload, e.received_at
         FROM locked CROSS JOIN json_populate_recordset(NULL::call_events, $2::json) AS e
         ON CONFLICT (call_sid, dedupe_key) DO NOTHING",
        cols = store::APPEND_COLUMNS
    )
});

/// `= ANY` of the sids in the JSON array $1: an index lookup per sid. A join with the
/// set-returning function instead leaves the planner guessing its size (100 rows), and
/// past some table size it hashes a scan of the whole table.
const SIDS: &str = "ANY(ARRAY(SELECT json_array_elements_text($1::json)))";

/// The stored rows, then the deleted markers, of the calls $1 names (read after the
/// locks: in a statement of its own, so its snapshot sees what the lock holders
/// committed).
static STORED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = rollups::ROW_COLUMNS;
    let nulls: Vec<String> = columns
        .split(", ")
        .map(|c| format!("NULL AS {c}"))
        .collect();
    format!(
        "SELECT {columns}, NULL AS deleted_by, NULL AS asked FROM calls WHERE call_sid = {SIDS}
         UNION ALL
         SELECT {nulls}, tenant_id, call_sid FROM deleted_calls WHERE call_sid = {SIDS}",
        nulls = nulls.join(", "),
    )
});

/// The routed events of the calls $1 names.
static EVENTS_OF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM call_events WHERE call_sid = {SIDS} AND tenant_id IS NOT NULL",
        store::EVENT_COLUMNS
    )
});

/// Upserts the calls' rows ($1) and adds the rollup changes ($2, sorted by key, so
/// concurrent batches lock shared rollup rows in one order; in the writer's shard) in
/// one statement.
static FINISH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = row::UPSERT_COLUMN_LIST.as_str();
    let selected: Vec<String> = columns.split(", ").map(|c| format!("r.{c}")).collect();
    let rollup = format!("{}, shard", rollups::ROLLUP_COLUMNS);
    let rollup_selected: Vec<String> = rollup.split(", ").map(|c| format!("g.{c}")).collect();
    format!(
        "WITH upserted AS (
             INSERT INTO calls ({columns})
             SELECT {selected} FROM json_populate_recordset(NULL::calls, $1::json) AS r
             {upsert_tail})
         INSERT INTO call_rollups ({rollup})
         SELECT {rollup_selected} FROM json_populate_recordset(NULL::call_rollups, $2::json) AS g
         {rollup_tail}",
        selected = selected.join(", "),
        upsert_tail = row::UPSERT_TAIL.as_str(),
        rollup_selected = rollup_selected.join(", "),
        rollup_tail = rollups::ROLLUP_UPSERT_TAIL,
    )
});

fn json<T: serde::Serialize + ?Sized>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(AppError::internal)
}

impl BatchStore for PgBatch<'_> {
    async fn append(&mut self, rows: &[EventRow<'_>]) -> AppResult<()> {
        let sids: Vec<&str> = rows.iter().map(|r| r.call_sid).collect();
        sqlx::query(LOCK_AND_APPEND.as_str())
            .bind(json(&sids)?)
            .bind(json(rows)?)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn stored(&mut self, call_sids: &[&str]) -> AppResult<Stored> {
        let mut stored = Stored::default();
        if call_sids.is_empty() {
            return Ok(stored);
        }
        for r in sqlx::query(STORED.as_str())
            .bind(json(call_sids)?)
            .fetch_all(&mut *self.tx)
            .await?
        {
            if r.try_get::<Option<String>, _>("call_sid")?.is_some() {
                stored.rows.push(RowFacts::from_any_row(&r)?);
            }
            if let Some(tenant) = r.try_get::<Option<String>, _>("deleted_by")? {
                stored.deleted.push((r.try_get("asked")?, tenant));
            }
        }
        Ok(stored)
    }

    async fn refuse(
        &mut self,
        call_sid: &str,
        dedupe_key: &str,
        tenant_id: &str,
        received_at: i64,
    ) -> AppResult<()> {
        store::refuse_through_sqlx(&mut self.tx, call_sid, dedupe_key, tenant_id, received_at).await
    }

    async fn events_of(&mut self, call_sids: &[&str]) -> AppResult<Vec<(String, String, Event)>> {
        sqlx::query(EVENTS_OF.as_str())
            .bind(json(call_sids)?)
            .fetch_all(&mut *self.tx)
            .await?
            .iter()
            .map(store::routed_event)
            .collect()
    }

    /// PostgreSQL keeps its trigram search indexes itself: nothing to note.
    async fn finish(mut self, calls: &[CallWrite<'_>], now: i64, deltas: Deltas) -> AppResult<()> {
        let rows: Vec<serde_json::Value> = calls
            .iter()
            .map(|c| {
                row::upsert_json(
                    c.call_sid,
                    c.tenant_id,
                    super::writer::tracking_number(&c.record),
                    &c.record,
                    now,
                )
            })
            .collect();
        let changes: Vec<serde_json::Value> = deltas
            .changes()
            .into_iter()
            .map(|c| {
                let (tenant, day, number, direction, outcome, menu) = c.key;
                serde_json::json!({
                    "tenant_id": tenant,
                    "day": day,
                    "twilio_number": number,
                    "direction": direction,
                    "outcome": outcome,
                    "menu_choice": menu,
                    "calls": c.calls,
                    "talk_seconds": c.talk,
                    "booked": c.booked,
                    "shard": self.shard,
                })
            })
            .collect();
        sqlx::query(FINISH.as_str())
            .bind(json(&rows)?)
            .bind(json(&changes)?)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_statement_is_one_text_whatever_the_batch() {
        assert!(!LOCK_AND_APPEND.contains("$3"));
        assert!(!STORED.contains("$2"));
        assert!(!FINISH.contains("$3"));
        assert!(FINISH.contains("INSERT INTO call_rollups (tenant_id"));
        assert!(FINISH.contains("booked, shard)"));
        assert!(FINISH.contains("SELECT g.tenant_id,"));
        assert!(FINISH.contains("menu_choice, shard) DO UPDATE"));
        assert!(!FINISH.contains("VALUES"));
        assert!(STORED.starts_with("SELECT call_sid, tenant_id,"));
        assert!(STORED.contains("NULL AS deleted_by, NULL AS asked FROM calls"));
        assert!(STORED.contains("NULL AS from_number, tenant_id, call_sid FROM deleted_calls"));
    }

    /// A fresh migrated PostgreSQL database on `TEST_DATABASE_URL`, with a tenant `t1`;
    /// `None` (and a line saying so) without one.
    async fn fresh_postgres() -> Option<crate::db::Db> {
        let Some(base) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            eprintln!("TEST_DATABASE_URL not set: the PostgreSQL writer's lock test skipped");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = crate::db::new_id("sbtest");
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let mut url = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        let db = crate::db::Db::connect(url.as_str())
            .await
            .expect("migrated");
        sqlx::query("INSERT INTO tenants (id, name, timezone, created_at, updated_at) VALUES ('t1', 'T', 'UTC', 0, 0)")
            .execute(db.pool())
            .await
            .expect("tenant");
        Some(db)
    }

    fn incoming(key: &'static str) -> [EventRow<'static>; 1] {
        [EventRow {
            tenant_id: Some("t1"),
            call_sid: "CA1",
            kind: "incoming",
            dedupe_key: key,
            payload: "[]",
            received_at: 1,
        }]
    }

    /// Two batches of one call, in flight at once (two writers, or two processes): the
    /// second waits at its append for the first to commit, then reads the row the first
    /// wrote — so neither folds the call without the other's events.
    #[tokio::test]
    async fn a_second_batch_of_a_call_waits_for_the_first_and_reads_its_row() {
        let Some(db) = fresh_postgres().await else {
            return;
        };
        let mut first_conn = db.pool().acquire().await.expect("connection");
        let mut first = PgBatch::begin(&mut first_conn, 0).await.expect("begin");
        first.append(&incoming("a")).await.expect("first append");

        let second_conn = db.pool().acquire().await.expect("connection");
        let second = tokio::spawn(async move {
            let mut conn = second_conn;
            let mut batch = PgBatch::begin(&mut conn, 1).await.expect("begin");
            batch.append(&incoming("b")).await.expect("second append");
            let stored = batch.stored(&["CA1"]).await.expect("stored");
            batch
                .finish(&[], 2, Deltas::default())
                .await
                .expect("second commit");
            stored.rows.len()
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !second.is_finished(),
            "the second batch went on while the first held the call"
        );

        let record = super::super::fold::CallRecord {
            outcome: "in-progress".into(),
            ..Default::default()
        };
        let write = CallWrite {
            call_sid: "CA1",
            tenant_id: "t1",
            record,
            existing: false,
            renamed: false,
        };
        first
            .finish(std::slice::from_ref(&write), 1, Deltas::default())
            .await
            .expect("first commit");
        let rows_seen = tokio::time::timeout(std::time::Duration::from_secs(10), second)
            .await
            .expect("the second batch went on after the first committed")
            .expect("the second batch's task");
        assert_eq!(rows_seen, 1, "the second batch read the first one's row");
        drop(first_conn);
        db.pool().close().await;
    }
}
