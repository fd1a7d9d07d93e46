//! The event writer's batch on PostgreSQL. A batch's rows travel as one JSON document
//! per statement (`json_populate_recordset` over the table's own row type), so every
//! statement has one text whatever the batch's size: prepared once per connection and
//! cheap to plan. Multi-row `VALUES` lists made a new statement for each batch size —
//! hundreds of parameters to parse and plan, and more texts than the connection's
//! statement cache keeps — and PostgreSQL spent most of a batch planning them.
//!
//! A batch is two round trips: `BEGIN`, the call locks and the append, the stored rows
//! and deleted markers, and the stored calls' events travel in one message; the rows,
//! the rollups and `COMMIT` in a second. Each is a simple query of several statements
//! (PostgreSQL gives each statement of it a snapshot of its own, so what is read after
//! the locks sees what their holders committed), whose statements `EXECUTE` ones the
//! connection prepared once ([`prepare`]), with the batch's JSON documents as
//! dollar-quoted constants. The extended protocol carries parameters, but one statement
//! a round trip; a batch was five (six for a stored call), each a wake-up on both sides
//! and, where the database is another machine, a trip across the network. The writer
//! runs them on a connection it keeps (see `super::writer`).

use futures_util::TryStreamExt as _;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::fold::Event;
use super::rollups::{self, Deltas, RowFacts};
use super::row;
use super::store::{self, BatchStore, CallWrite, EventRow, Stored};
use crate::error::{AppError, AppResult};

/// A batch's transaction on PostgreSQL, on the connection its writer keeps (prepared
/// with [`prepare`]).
pub(super) struct PgBatch<'c> {
    conn: &'c mut sqlx::AnyConnection,
    /// The rollup shard its writer adds to.
    shard: u16,
    /// Statements not sent yet, each ending in `;`.
    unsent: String,
    /// How many statements `unsent` holds.
    unsent_count: usize,
    /// The routed events of the batch's stored calls, read with their rows.
    stored_events: Option<Vec<(String, String, Event)>>,
    /// Set for a batch begun with [`PgBatch::begin_new_calls`]; true once its guess
    /// failed.
    guessed_wrong: Option<&'c mut bool>,
}

/// The SQLSTATE `sb_calls_are_new` (migration 0028) fails a batch with when one of its
/// calls is stored already.
const STORED_ALREADY: &str = "SB001";

/// How a batch begins. Every statement of a batch finds or writes rows by key, so one
/// generic plan serves every run: the sessions' `force_custom_plan` (see
/// `crate::db`) would plan each of them again each batch, a tenth of a millisecond a
/// statement. Without sequential scans, a generic plan made while the tables were still
/// empty is an index plan too, and stays right as they grow — the trap that made the
/// sessions plan each run.
const BEGIN: [&str; 3] = [
    "BEGIN",
    "SET LOCAL plan_cache_mode = force_generic_plan",
    "SET LOCAL enable_seqscan = off",
];

/// The writer's prepared statements: name, parameter types, text.
fn statements() -> [(&'static str, &'static str, &'static str); 5] {
    [
        ("sb_writer_append", "json, json", LOCK_AND_APPEND.as_str()),
        ("sb_writer_stored", "json", STORED.as_str()),
        ("sb_writer_events", "json", EVENTS_OF_STORED.as_str()),
        ("sb_writer_finish", "json, json", FINISH.as_str()),
        ("sb_writer_new_only", "json", "SELECT sb_calls_are_new($1)"),
    ]
}

/// Prepares the writer's statements on `conn`, those it has not prepared yet (once per
/// connection: they last as long as it does).
pub(super) async fn prepare(conn: &mut sqlx::AnyConnection) -> AppResult<()> {
    let have: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pg_prepared_statements WHERE name LIKE 'sb%'")
            .fetch_all(&mut *conn)
            .await?;
    let missing: Vec<String> = statements()
        .into_iter()
        .filter(|(name, _, _)| !have.iter().any(|h| h == name))
        .map(|(name, types, text)| format!("PREPARE {name} ({types}) AS {text}"))
        .collect();
    if !missing.is_empty() {
        // A text without arguments goes as a simple query, which may hold several.
        sqlx::Executor::execute(&mut *conn, missing.join(";\n").as_str()).await?;
    }
    Ok(())
}

/// Ends the transaction a failed batch left open, keeping the connection.
pub(super) async fn roll_back(conn: &mut sqlx::AnyConnection) -> AppResult<()> {
    sqlx::Executor::execute(conn, "ROLLBACK").await?;
    Ok(())
}

/// `text` as a dollar-quoted string constant: nothing in it is special then, whatever
/// the server's `standard_conforming_strings`, so long as the tag first occurs where it
/// closes the constant (a text ending in `$j` would otherwise close `$j$` early). The
/// texts are JSON, which never holds a NUL byte (serde_json escapes control
/// characters): a query string could not carry one.
fn push_constant(sql: &mut String, text: &str) {
    let mut tag = String::from("$j$");
    let mut n = 0u32;
    while text.contains(tag.as_str()) || closes_early(text, &tag) {
        n += 1;
        tag = format!("$j{n}$");
    }
    sql.push_str(&tag);
    sql.push_str(text);
    sql.push_str(&tag);
}

/// Whether `text` followed by `tag` holds `tag` across the seam, before the end: `text`
/// ends with the start of `tag` and the rest of `tag` starts it again.
fn closes_early(text: &str, tag: &str) -> bool {
    (1..tag.len()).any(|m| text.ends_with(&tag[..m]) && tag.starts_with(&tag[m..]))
}

impl<'c> PgBatch<'c> {
    /// Begins a batch; nothing is sent until a statement's results are needed.
    pub(super) fn begin(conn: &'c mut sqlx::AnyConnection, shard: u16) -> Self {
        let mut batch = Self {
            conn,
            shard,
            unsent: String::with_capacity(4096),
            unsent_count: 0,
            stored_events: None,
            guessed_wrong: None,
        };
        for statement in BEGIN {
            batch.push(statement, &[]);
        }
        batch
    }

    /// Begins a batch whose calls are all taken to be new: none of them has a row or a
    /// deleted marker, so it reads nothing back, folds the batch from memory, and is
    /// sent with its commit in one round trip instead of two. The guess is checked in
    /// the transaction, after the calls' locks (`sb_calls_are_new`); where it was wrong
    /// the batch fails, `guessed_wrong` is set, and the caller rolls back
    /// ([`roll_back`]) and writes the batch again with [`PgBatch::begin`]. Meant for
    /// incoming-call webhooks, a call's first request, where it is seldom wrong (a
    /// retried webhook).
    pub(super) fn begin_new_calls(
        conn: &'c mut sqlx::AnyConnection,
        shard: u16,
        guessed_wrong: &'c mut bool,
    ) -> Self {
        *guessed_wrong = false;
        let mut batch = Self::begin(conn, shard);
        batch.guessed_wrong = Some(guessed_wrong);
        batch
    }

    /// Queues `statement`, or `EXECUTE statement(…)` of the JSON documents `args`.
    fn push(&mut self, statement: &str, args: &[&str]) {
        if args.is_empty() {
            self.unsent.push_str(statement);
        } else {
            self.unsent.push_str("EXECUTE ");
            self.unsent.push_str(statement);
            self.unsent.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    self.unsent.push_str(", ");
                }
                push_constant(&mut self.unsent, arg);
            }
            self.unsent.push(')');
        }
        self.unsent.push_str(";\n");
        self.unsent_count += 1;
    }

    /// Sends the queued statements in one round trip (a text without arguments goes as
    /// a simple query, which may hold several); the rows of each, in order.
    async fn send(&mut self) -> AppResult<Vec<Vec<AnyRow>>> {
        let sql = std::mem::take(&mut self.unsent);
        let expected = std::mem::take(&mut self.unsent_count);
        let items: Vec<_> = match sqlx::Executor::fetch_many(&mut *self.conn, sql.as_str())
            .try_collect()
            .await
        {
            Ok(items) => items,
            Err(e) => {
                let code = e.as_database_error().and_then(|d| d.code());
                if let (Some(wrong), Some(STORED_ALREADY)) =
                    (self.guessed_wrong.as_deref_mut(), code.as_deref())
                {
                    *wrong = true;
                }
                return Err(e.into());
            }
        };
        let mut results = vec![Vec::new()];
        for item in items {
            match item {
                sqlx::Either::Left(_) => results.push(Vec::new()),
                sqlx::Either::Right(row) => {
                    if let Some(rows) = results.last_mut() {
                        rows.push(row);
                    }
                }
            }
        }
        // Each statement ends with its completion; the last one opened nothing.
        results.pop();
        if results.len() != expected {
            return Err(AppError::Internal(
                format!(
                    "the writer sent {expected} statements and PostgreSQL completed {}",
                    results.len()
                )
                .into(),
            ));
        }
        Ok(results)
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

/// The routed events of those calls $1 names that have a row: what the batch refolds
/// (a call without a row has no events but the batch's, folded from memory). Each sid
/// is looked up by key: `OFFSET 0` keeps the `EXISTS` a subplan run per sid, which the
/// planner would otherwise turn into a semi-join — planned generic on a fresh table as
/// a hash of a whole index of `calls`, a scan a batch that took 30–50 ms at 100,000
/// calls.
static EVENTS_OF_STORED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM call_events
         WHERE call_sid = ANY(ARRAY(
                 SELECT sid FROM json_array_elements_text($1::json) AS batch(sid)
                 WHERE EXISTS (SELECT 1 FROM calls WHERE calls.call_sid = batch.sid OFFSET 0)))
             AND tenant_id IS NOT NULL",
        store::EVENT_COLUMNS
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
    /// Queued: it travels with the read of the stored rows (or with the commit).
    async fn append(&mut self, rows: &[EventRow<'_>]) -> AppResult<()> {
        let sids: Vec<&str> = rows.iter().map(|r| r.call_sid).collect();
        let (sids, rows) = (json(&sids)?, json(rows)?);
        self.push("sb_writer_append", &[&sids, &rows]);
        Ok(())
    }

    async fn stored(&mut self, call_sids: &[&str]) -> AppResult<Stored> {
        let mut stored = Stored::default();
        if call_sids.is_empty() {
            self.stored_events = Some(Vec::new());
            return Ok(stored);
        }
        let sids = json(call_sids)?;
        if self.guessed_wrong.is_some() {
            // Taken to be new: checked in the transaction, nothing to read.
            self.push("sb_writer_new_only", &[&sids]);
            self.stored_events = Some(Vec::new());
            return Ok(stored);
        }
        self.push("sb_writer_stored", &[&sids]);
        self.push("sb_writer_events", &[&sids]);
        let mut results = self.send().await?;
        let events = results.pop().unwrap_or_default();
        for r in results.pop().unwrap_or_default() {
            if r.try_get::<Option<String>, _>("call_sid")?.is_some() {
                stored.rows.push(RowFacts::from_any_row(&r)?);
            }
            if let Some(tenant) = r.try_get::<Option<String>, _>("deleted_by")? {
                stored.deleted.push((r.try_get("asked")?, tenant));
            }
        }
        self.stored_events = Some(
            events
                .iter()
                .map(store::routed_event)
                .collect::<AppResult<_>>()?,
        );
        Ok(stored)
    }

    async fn refuse(
        &mut self,
        call_sid: &str,
        dedupe_key: &str,
        tenant_id: &str,
        received_at: i64,
    ) -> AppResult<()> {
        if self.unsent_count > 0 {
            self.send().await?;
        }
        store::refuse_through_sqlx(
            &mut *self.conn,
            call_sid,
            dedupe_key,
            tenant_id,
            received_at,
        )
        .await
    }

    /// Read with the stored rows, for every stored call of the batch.
    async fn events_of(&mut self, call_sids: &[&str]) -> AppResult<Vec<(String, String, Event)>> {
        if let Some(events) = self.stored_events.take() {
            return Ok(events
                .into_iter()
                .filter(|(sid, _, _)| call_sids.contains(&sid.as_str()))
                .collect());
        }
        if self.unsent_count > 0 {
            self.send().await?;
        }
        sqlx::query(EVENTS_OF.as_str())
            .bind(json(call_sids)?)
            .fetch_all(&mut *self.conn)
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
        let (rows, changes) = (json(&rows)?, json(&changes)?);
        self.push("sb_writer_finish", &[&rows, &changes]);
        self.push("COMMIT", &[]);
        self.send().await?;
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

    /// The constant ends where its text does: its tag first occurs again after the
    /// whole text (PostgreSQL closes a dollar-quoted constant at the first occurrence).
    fn closes_at_the_end(text: &str) -> bool {
        let mut sql = String::new();
        push_constant(&mut sql, text);
        let tag_len = sql.len() - text.len();
        let tag = &sql[..tag_len / 2];
        sql[tag.len()..].find(tag) == Some(text.len()) && &sql[tag.len()..][..text.len()] == text
    }

    #[test]
    fn a_constant_is_closed_by_its_own_tag_alone() {
        for text in [
            "",
            "[]",
            "$j$",
            "x$j",
            "x$",
            "$j1$$j$",
            "$j$$j1$$j2$",
            "$$",
            "a$j$b'",
        ] {
            assert!(closes_at_the_end(text), "{text:?}");
        }
        let mut sql = String::new();
        push_constant(&mut sql, "x$j");
        assert!(
            !sql.starts_with("$j$"),
            "a text ending in $j must not take the tag $j$"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_makes_a_constant_closed_at_its_end(text in "[$j1x']{0,24}") {
            proptest::prop_assert!(closes_at_the_end(&text));
        }
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

    /// [`fresh_postgres`] and a connection of its pool with the writer's statements
    /// prepared.
    async fn writer_connection() -> Option<(crate::db::Db, sqlx::pool::PoolConnection<sqlx::Any>)> {
        let db = fresh_postgres().await?;
        let mut conn = db.pool().acquire().await.expect("connection");
        prepare(&mut conn).await.expect("prepared");
        Some((db, conn))
    }

    /// The first row of call CA1.
    fn new_call() -> CallWrite<'static> {
        CallWrite {
            call_sid: "CA1",
            tenant_id: "t1",
            record: super::super::fold::CallRecord {
                outcome: "in-progress".into(),
                ..Default::default()
            },
            existing: false,
            renamed: false,
        }
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

    /// Texts that would end a constant or a quoted string early are stored as sent, and a
    /// stored call's next batch reads its row and every event of it in its first round
    /// trip.
    #[tokio::test]
    async fn constants_carry_any_text_and_a_stored_call_reads_its_events() {
        let Some(db) = fresh_postgres().await else {
            return;
        };
        let hostile = serde_json::to_string(&[
            ("CallerName", "$j$'); DROP TABLE calls; --$j"),
            ("From", "$j1$\\'$$"),
        ])
        .expect("json");
        let mut conn = db.pool().acquire().await.expect("connection");
        prepare(&mut conn).await.expect("prepared");
        prepare(&mut conn)
            .await
            .expect("preparing twice is harmless");
        let rows = [EventRow {
            tenant_id: Some("t1"),
            call_sid: "CA1",
            kind: "incoming",
            dedupe_key: "a",
            payload: &hostile,
            received_at: 1,
        }];
        let mut first = PgBatch::begin(&mut conn, 0);
        first.append(&rows).await.expect("append");
        assert!(first.stored(&["CA1"]).await.expect("read").rows.is_empty());
        first
            .finish(&[new_call()], 1, Deltas::default())
            .await
            .expect("commit");

        let mut second = PgBatch::begin(&mut conn, 0);
        second.append(&incoming("b")).await.expect("append");
        let stored = second.stored(&["CA1"]).await.expect("read");
        assert_eq!(stored.rows.len(), 1);
        let events = second.events_of(&["CA1"]).await.expect("events");
        assert_eq!(events.len(), 2, "the stored event and this batch's");
        let params: Vec<(String, String)> = events
            .iter()
            .flat_map(|(_, _, e)| e.params.clone())
            .collect();
        assert_eq!(
            serde_json::to_string(&params).expect("json"),
            hostile,
            "the hostile parameters came back as sent"
        );
        second
            .finish(&[], 2, Deltas::default())
            .await
            .expect("commit");
        let calls: i64 = sqlx::query_scalar("SELECT count(*) FROM calls")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        assert_eq!(calls, 1);
        drop(conn);
        db.pool().close().await;
    }

    /// A batch taken to hold only new calls reads nothing and is sent whole at its
    /// commit; where a call has a row or a deleted marker its guess fails in the
    /// transaction, nothing of it stays, and the same connection writes the batch the
    /// usual way.
    #[tokio::test]
    async fn a_guess_that_the_calls_are_new_is_checked_in_the_transaction() {
        let Some((db, mut conn)) = writer_connection().await else {
            return;
        };
        let mut wrong = true;
        let mut guess = PgBatch::begin_new_calls(&mut conn, 0, &mut wrong);
        guess.append(&incoming("a")).await.expect("append");
        assert!(guess.stored(&["CA1"]).await.expect("read").rows.is_empty());
        assert!(
            guess.unsent_count > 0,
            "nothing was sent before the commit: one round trip"
        );
        guess
            .finish(&[new_call()], 1, Deltas::default())
            .await
            .expect("a new call's guess holds");
        assert!(!wrong);

        async fn events(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
            sqlx::query_scalar("SELECT count(*) FROM call_events WHERE call_sid = 'CA1'")
                .fetch_one(conn)
                .await
        }
        let mut guess = PgBatch::begin_new_calls(&mut conn, 0, &mut wrong);
        guess.append(&incoming("b")).await.expect("append");
        assert!(guess.stored(&["CA1"]).await.expect("read").rows.is_empty());
        let failed = guess.finish(&[new_call()], 2, Deltas::default()).await;
        assert!(failed.is_err(), "CA1 has a row: the guess must fail");
        assert!(wrong);
        roll_back(&mut conn).await.expect("rolled back");
        assert_eq!(
            events(&mut conn).await.expect("count"),
            1,
            "nothing of the guess stayed"
        );

        let mut usual = PgBatch::begin(&mut conn, 0);
        usual.append(&incoming("b")).await.expect("append");
        assert_eq!(usual.stored(&["CA1"]).await.expect("read").rows.len(), 1);
        usual
            .finish(&[], 2, Deltas::default())
            .await
            .expect("the usual way on the same connection");
        assert_eq!(events(&mut conn).await.expect("count"), 2);

        // A call whose log was deleted has no row, only its marker: also not new.
        sqlx::query(
            "INSERT INTO deleted_calls (call_sid, tenant_id, deleted_at) VALUES ('CA2', 't1', 0)",
        )
        .execute(&mut *conn)
        .await
        .expect("marker");
        let mut guess = PgBatch::begin_new_calls(&mut conn, 0, &mut wrong);
        guess.append(&incoming("c")).await.expect("append");
        guess.stored(&["CA2"]).await.expect("read");
        assert!(guess.finish(&[], 3, Deltas::default()).await.is_err());
        assert!(wrong, "a deleted call's marker fails the guess");
        roll_back(&mut conn).await.expect("rolled back");
        drop(conn);
        db.pool().close().await;
    }

    /// Two batches of one call, in flight at once (two writers, or two processes): the
    /// second waits at its append for the first to commit, then reads the row the first
    /// wrote — so neither folds the call without the other's events.
    #[tokio::test]
    async fn a_second_batch_of_a_call_waits_for_the_first_and_reads_its_row() {
        let Some((db, mut first_conn)) = writer_connection().await else {
            return;
        };
        let mut first = PgBatch::begin(&mut first_conn, 0);
        first.append(&incoming("a")).await.expect("first append");
        let stored = first.stored(&["CA1"]).await.expect("first read");
        assert!(stored.rows.is_empty());

        let second_conn = db.pool().acquire().await.expect("connection");
        let second = tokio::spawn(async move {
            let mut conn = second_conn;
            prepare(&mut conn).await.expect("prepared");
            let mut batch = PgBatch::begin(&mut conn, 1);
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

        first
            .finish(&[new_call()], 1, Deltas::default())
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
