//! What the event writer reads and writes inside one batch's transaction, on either of
//! two connections: a sqlx transaction (PostgreSQL, and SQLite without a file), or the
//! writer thread's own rusqlite connection to the SQLite file. The batch logic
//! (ownership, dedupe, fold, rollups) is written once against [`BatchStore`]; only the
//! statements' plumbing differs. On SQLite the rusqlite side runs every statement on the
//! writer's thread, prepared once and cached, where sqlx hands each one to a worker
//! thread of its own and back (a wake-up and a context switch per statement).

use sqlx::Row as _;

use super::fold::{CallRecord, Event};
use super::rollups::{self, Deltas, RowFacts};
use super::row;
use crate::db::{Backend, Db};
use crate::error::AppResult;

/// One event row to append (serialised with its columns' names for PostgreSQL's
/// writer, which sends a batch's rows as one JSON document).
#[derive(serde::Serialize)]
pub(super) struct EventRow<'a> {
    pub(super) tenant_id: Option<&'a str>,
    pub(super) call_sid: &'a str,
    pub(super) kind: &'static str,
    pub(super) dedupe_key: &'a str,
    pub(super) payload: &'a str,
    pub(super) received_at: i64,
}

/// What the database holds of a batch's calls before the batch.
#[derive(Default)]
pub(super) struct Stored {
    /// The calls' current rows.
    pub(super) rows: Vec<RowFacts>,
    /// `(call_sid, tenant_id)` of calls whose logs their tenant deleted.
    pub(super) deleted: Vec<(String, String)>,
}

/// The columns an appended event row fills, in the order of [`EventRow`]'s fields.
macro_rules! append_columns {
    () => {
        "tenant_id, call_sid, kind, dedupe_key, payload, received_at"
    };
}
pub(super) const APPEND_COLUMNS: &str = append_columns!();
const APPEND_HEAD: &str = concat!("INSERT INTO call_events (", append_columns!(), ") VALUES ");
/// A dedupe key is unique within its call (migration 0025: one index serves both the
/// dedupe and the reads of a call's events).
const APPEND_TAIL: &str = " ON CONFLICT (call_sid, dedupe_key) DO NOTHING";
const REFUSE: &str = "UPDATE call_events SET claimed_tenant_id = tenant_id, tenant_id = NULL
     WHERE call_sid = $1 AND dedupe_key = $2 AND tenant_id = $3 AND received_at = $4";
pub(super) const EVENT_COLUMNS: &str = "call_sid, tenant_id, kind, payload, received_at";

/// A call's row to write.
pub(super) struct CallWrite<'a> {
    pub(super) call_sid: &'a str,
    pub(super) tenant_id: &'a str,
    pub(super) record: CallRecord,
    /// The call had a row before this batch (else it is new).
    pub(super) existing: bool,
    /// Its caller's name or number differ from what the stored row holds: SQLite's
    /// search index forgets the old text and takes the new.
    pub(super) renamed: bool,
}

impl CallWrite<'_> {
    /// SQLite's search index must take this call's text (migration 0024).
    fn to_index(&self) -> bool {
        !self.existing || self.renamed
    }
}

/// The search index forgets a renamed call's old text, read from its row before the row
/// changes — unless the call is still noted, its text not in the index yet.
const SEARCH_FORGET: &str = "INSERT INTO calls_search(calls_search, rowid, caller_name, from_number)
     SELECT 'delete', rowid, caller_name, from_number FROM calls
     WHERE call_sid = $1 AND NOT EXISTS (SELECT 1 FROM calls_search_pending WHERE call_rowid = calls.rowid)";
/// Notes a new call's row (by its row id) for the search index.
const SEARCH_NOTE_ROW: &str = "INSERT OR IGNORE INTO calls_search_pending(call_rowid) VALUES (?1)";
/// Notes a call for the search index; the writer moves noted calls into it in batches.
const SEARCH_NOTE: &str = "INSERT OR IGNORE INTO calls_search_pending(call_rowid)
     SELECT rowid FROM calls WHERE call_sid = $1";

/// One batch's transaction. Every method runs inside it; [`BatchStore::commit`] ends it,
/// and dropping it rolls back.
pub(super) trait BatchStore {
    /// Appends events; one whose dedupe key is stored already is skipped.
    async fn append(&mut self, rows: &[EventRow<'_>]) -> AppResult<()>;
    /// The rows and deleted markers of `call_sids`.
    async fn stored(&mut self, call_sids: &[&str]) -> AppResult<Stored>;
    /// Takes an event away from the tenant that signed it (kept for admins).
    async fn refuse(
        &mut self,
        call_sid: &str,
        dedupe_key: &str,
        tenant_id: &str,
        received_at: i64,
    ) -> AppResult<()>;
    /// The stored routed events of `call_sids`: `(call_sid, tenant_id, event)`.
    async fn events_of(&mut self, call_sids: &[&str]) -> AppResult<Vec<(String, String, Event)>>;
    /// Writes the calls' rows (and notes for SQLite's search index the calls whose text
    /// it must take: new, or renamed), adds the rollup changes, and commits.
    async fn finish(self, calls: &[CallWrite<'_>], now: i64, deltas: Deltas) -> AppResult<()>;
}

/// [`BatchStore::refuse`] through sqlx.
pub(super) async fn refuse_through_sqlx(
    conn: &mut sqlx::AnyConnection,
    call_sid: &str,
    dedupe_key: &str,
    tenant_id: &str,
    received_at: i64,
) -> AppResult<()> {
    sqlx::query(REFUSE)
        .bind(call_sid)
        .bind(dedupe_key)
        .bind(tenant_id)
        .bind(received_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// `(call_sid, tenant_id, event)` of a row selected with [`EVENT_COLUMNS`] through sqlx.
pub(super) fn routed_event(row: &sqlx::any::AnyRow) -> AppResult<(String, String, Event)> {
    Ok((
        row.try_get("call_sid")?,
        row.try_get("tenant_id")?,
        super::event_from_row(row)?,
    ))
}

/// A batch through sqlx on SQLite, for a database without a file (the writer has no
/// connection of its own there; PostgreSQL's batches are [`super::pg_batch`]'s).
pub(super) struct SqlxBatch<'d> {
    db: &'d Db,
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl<'d> SqlxBatch<'d> {
    /// Begins a batch (SQLite's single write lock keeps batches apart).
    pub(super) async fn begin(db: &'d Db) -> AppResult<Self> {
        Ok(Self {
            db,
            tx: db.begin_write().await?,
        })
    }

    async fn write_calls(&mut self, calls: &[CallWrite<'_>], now: i64) -> AppResult<()> {
        for c in calls.iter().filter(|c| c.existing && c.renamed) {
            sqlx::query(SEARCH_FORGET)
                .bind(c.call_sid)
                .execute(&mut *self.tx)
                .await?;
        }
        for chunk in calls.chunks(UPSERT_ROWS) {
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "({})",
                        self.db
                            .placeholders(i * row::UPSERT_COLUMNS + 1, row::UPSERT_COLUMNS)
                    )
                })
                .collect();
            let sql = format!(
                "{}{}{}",
                row::UPSERT_HEAD.as_str(),
                placeholders.join(", "),
                row::UPSERT_TAIL.as_str()
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = row::bind_upsert(
                    q,
                    c.call_sid,
                    c.tenant_id,
                    super::writer::tracking_number(&c.record),
                    &c.record,
                    now,
                );
            }
            q.execute(&mut *self.tx).await?;
        }
        for c in calls.iter().filter(|c| c.to_index()) {
            sqlx::query(SEARCH_NOTE)
                .bind(c.call_sid)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }
}

/// Calls upserted per sqlx statement (well under both databases' parameter limits).
const UPSERT_ROWS: usize = 100;

impl BatchStore for SqlxBatch<'_> {
    async fn append(&mut self, rows: &[EventRow<'_>]) -> AppResult<()> {
        for chunk in rows.chunks(64) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", self.db.placeholders(i * 6 + 1, 6)))
                .collect();
            let sql = format!("{APPEND_HEAD}{}{APPEND_TAIL}", values.join(", "));
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.tenant_id)
                    .bind(r.call_sid)
                    .bind(r.kind)
                    .bind(r.dedupe_key)
                    .bind(r.payload)
                    .bind(r.received_at);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn stored(&mut self, call_sids: &[&str]) -> AppResult<Stored> {
        let mut stored = Stored::default();
        for chunk in call_sids.chunks(200) {
            let list = self.db.placeholders(1, chunk.len());
            let sql = format!(
                "SELECT {} FROM calls WHERE call_sid IN ({list})",
                rollups::ROW_COLUMNS
            );
            let mut q = sqlx::query(&sql);
            for sid in chunk {
                q = q.bind(*sid);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                stored.rows.push(RowFacts::from_any_row(&row)?);
            }
            let sql =
                format!("SELECT call_sid, tenant_id FROM deleted_calls WHERE call_sid IN ({list})");
            let mut q = sqlx::query(&sql);
            for sid in chunk {
                q = q.bind(*sid);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                stored
                    .deleted
                    .push((row.try_get("call_sid")?, row.try_get("tenant_id")?));
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
        refuse_through_sqlx(&mut self.tx, call_sid, dedupe_key, tenant_id, received_at).await
    }

    async fn events_of(&mut self, call_sids: &[&str]) -> AppResult<Vec<(String, String, Event)>> {
        let mut events = Vec::new();
        for chunk in call_sids.chunks(200) {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM call_events WHERE call_sid IN ({}) AND tenant_id IS NOT NULL",
                self.db.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for sid in chunk {
                q = q.bind(*sid);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                events.push(routed_event(&row)?);
            }
        }
        Ok(events)
    }

    async fn finish(mut self, calls: &[CallWrite<'_>], now: i64, deltas: Deltas) -> AppResult<()> {
        self.write_calls(calls, now).await?;
        deltas.apply(self.db, &mut self.tx).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// A batch on the writer thread's own SQLite connection.
pub(super) struct SqliteBatch<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl<'c> SqliteBatch<'c> {
    /// Begins a batch: `BEGIN IMMEDIATE` takes the write lock at once (waiting on
    /// `busy_timeout` while another connection writes), so no later statement of the
    /// batch can fail to upgrade a read lock.
    pub(super) fn begin(conn: &'c mut rusqlite::Connection) -> AppResult<Self> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(Self { tx })
    }
}

/// A row selected with [`rollups::ROW_COLUMNS`], through rusqlite.
fn row_facts(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowFacts> {
    Ok(RowFacts {
        call_sid: r.get("call_sid")?,
        tenant: r.get("tenant_id")?,
        started_at: r.get("started_at")?,
        number: r.get("twilio_number")?,
        direction: r.get("direction")?,
        outcome: r.get("outcome")?,
        menu: r.get("menu_choice")?,
        talk: r.get("talk_seconds")?,
        booked: r.get("appointment_booked")?,
        caller_name: r.get("caller_name")?,
        from_number: r.get("from_number")?,
    })
}

/// `$n` → `?n`: one statement text for sqlx and rusqlite alike.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

impl BatchStore for SqliteBatch<'_> {
    async fn append(&mut self, rows: &[EventRow<'_>]) -> AppResult<()> {
        let mut st = self.tx.prepare_cached(&format!(
            "{APPEND_HEAD}(?1, ?2, ?3, ?4, ?5, ?6){APPEND_TAIL}"
        ))?;
        for r in rows {
            st.execute(rusqlite::params![
                r.tenant_id,
                r.call_sid,
                r.kind,
                r.dedupe_key,
                r.payload,
                r.received_at
            ])?;
        }
        Ok(())
    }

    async fn stored(&mut self, call_sids: &[&str]) -> AppResult<Stored> {
        let mut stored = Stored::default();
        let mut rows = self.tx.prepare_cached(&format!(
            "SELECT {} FROM calls WHERE call_sid = ?1",
            rollups::ROW_COLUMNS
        ))?;
        let mut deleted = self
            .tx
            .prepare_cached("SELECT call_sid, tenant_id FROM deleted_calls WHERE call_sid = ?1")?;
        for sid in call_sids {
            let mut found = rows.query([sid])?;
            while let Some(r) = found.next()? {
                stored.rows.push(row_facts(r)?);
            }
            let mut found = deleted.query([sid])?;
            while let Some(r) = found.next()? {
                stored.deleted.push((r.get(0)?, r.get(1)?));
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
        self.tx
            .prepare_cached(&numbered(REFUSE))
            .and_then(|mut st| {
                st.execute(rusqlite::params![
                    call_sid,
                    dedupe_key,
                    tenant_id,
                    received_at
                ])
            })?;
        Ok(())
    }

    async fn events_of(&mut self, call_sids: &[&str]) -> AppResult<Vec<(String, String, Event)>> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM call_events WHERE call_sid = ?1 AND tenant_id IS NOT NULL"
        ))?;
        let mut events = Vec::new();
        for sid in call_sids {
            let mut rows = st.query([sid])?;
            while let Some(r) = rows.next()? {
                let kind: String = r.get("kind")?;
                let payload: String = r.get("payload")?;
                events.push((
                    r.get("call_sid")?,
                    r.get("tenant_id")?,
                    super::event_of(&kind, &payload, r.get("received_at")?)?,
                ));
            }
        }
        Ok(events)
    }

    async fn finish(mut self, calls: &[CallWrite<'_>], now: i64, deltas: Deltas) -> AppResult<()> {
        self.write_calls(calls, now)?;
        self.add_rollups(&deltas)?;
        Ok(self.tx.commit()?)
    }
}

impl SqliteBatch<'_> {
    fn write_calls(&mut self, calls: &[CallWrite<'_>], now: i64) -> AppResult<()> {
        // Looked up in the statement cache once a batch, not once a call.
        let mut insert = self.tx.prepare_cached(row::INSERT_ONE.as_str())?;
        let mut update = self.tx.prepare_cached(row::UPDATE_ONE.as_str())?;
        let mut forget = self.tx.prepare_cached(&numbered(SEARCH_FORGET))?;
        let mut note = self.tx.prepare_cached(&numbered(SEARCH_NOTE))?;
        let mut note_row = self.tx.prepare_cached(SEARCH_NOTE_ROW)?;
        for c in calls {
            let values = row::upsert_values(
                c.call_sid,
                c.tenant_id,
                super::writer::tracking_number(&c.record),
                &c.record,
                now,
            )?;
            if c.existing {
                if c.renamed {
                    forget.execute([c.call_sid])?;
                }
                update.execute(rusqlite::params_from_iter(values))?;
                if c.renamed {
                    note.execute([c.call_sid])?;
                }
            } else {
                insert.execute(rusqlite::params_from_iter(values))?;
                // The row just inserted: no second lookup of the call by its sid.
                note_row.execute([self.tx.last_insert_rowid()])?;
            }
        }
        Ok(())
    }

    fn add_rollups(&mut self, deltas: &Deltas) -> AppResult<()> {
        let mut st = self.tx.prepare_cached(&format!(
            "{}(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9){}",
            rollups::ROLLUP_UPSERT_HEAD.as_str(),
            rollups::ROLLUP_UPSERT_TAIL
        ))?;
        for c in deltas.changes() {
            let (tenant, day, number, direction, outcome, menu) = c.key;
            st.execute(rusqlite::params![
                tenant, day, number, direction, outcome, menu, c.calls, c.talk, c.booked
            ])?;
        }
        Ok(())
    }
}

/// Copies the write-ahead log into the database file from the writer's own connection,
/// between its batches (PASSIVE: it never waits on readers); whether every frame was
/// copied. SQLite rewinds the log to its start at the next write only when a checkpoint
/// copied all of it, and a checkpoint running beside a busy writer never does (new
/// frames land while it copies): the log then grows for as long as the load lasts —
/// gigabytes, each new block zeroed by the file system on the commit's path. Run where
/// no write can land meanwhile, the copy is complete and the log stays small.
pub(super) fn checkpoint(conn: &rusqlite::Connection) -> AppResult<bool> {
    let (busy, log, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(busy == 0 && log == copied)
}

/// Most noted calls moved into the search index by one flush.
pub(super) const SEARCH_FLUSH_ROWS: usize = 256;
/// The last noted call one flush moves.
const SEARCH_FLUSH_UPTO: &str = "SELECT MAX(call_rowid) FROM (SELECT call_rowid FROM calls_search_pending ORDER BY call_rowid LIMIT $1)";
/// `CROSS JOIN` fixes the loop order: the noted rows outside, each call looked up by its
/// row id. With a plain join the planner moves the bound onto `calls` (`c.rowid <= $1`)
/// and walks every call ever stored on each flush — milliseconds that grow with the table.
const SEARCH_FLUSH_INDEX: &str = "INSERT INTO calls_search(rowid, caller_name, from_number)
     SELECT c.rowid, c.caller_name, c.from_number
     FROM calls_search_pending p CROSS JOIN calls c ON c.rowid = p.call_rowid
     WHERE p.call_rowid <= $1";
const SEARCH_FLUSH_FORGET: &str = "DELETE FROM calls_search_pending WHERE call_rowid <= $1";

/// Moves the calls noted for the SQLite search index (migration 0022) into it, a
/// bounded number at a time, in one transaction on the writer's connection; how many.
pub(super) fn flush_search(conn: &mut rusqlite::Connection) -> AppResult<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let upto: Option<i64> = tx
        .prepare_cached(&numbered(SEARCH_FLUSH_UPTO))
        .and_then(|mut st| st.query_row([SEARCH_FLUSH_ROWS as i64], |r| r.get(0)))?;
    let Some(upto) = upto else {
        return Ok(0);
    };
    let moved = tx
        .prepare_cached(&numbered(SEARCH_FLUSH_INDEX))
        .and_then(|mut st| st.execute([upto]))?;
    tx.prepare_cached(&numbered(SEARCH_FLUSH_FORGET))
        .and_then(|mut st| st.execute([upto]))?;
    tx.commit()?;
    Ok(moved)
}

/// [`flush_search`] through the pool (a SQLite database without a file); nothing on
/// PostgreSQL, whose trigram indexes are kept by the database.
pub(super) async fn flush_search_through_pool(db: &Db) -> AppResult<usize> {
    if db.backend() != Backend::Sqlite {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let upto: Option<i64> = sqlx::query_scalar(SEARCH_FLUSH_UPTO)
        .bind(SEARCH_FLUSH_ROWS as i64)
        .fetch_one(&mut *tx)
        .await?;
    let Some(upto) = upto else {
        return Ok(0);
    };
    let moved = sqlx::query(SEARCH_FLUSH_INDEX)
        .bind(upto)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(SEARCH_FLUSH_FORGET)
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(usize::try_from(moved).unwrap_or(usize::MAX))
}

/// Calls noted for the SQLite search index and not yet in it (0 on PostgreSQL).
pub async fn search_backlog(db: &Db) -> AppResult<i64> {
    if db.backend() != Backend::Sqlite {
        return Ok(0);
    }
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM calls_search_pending")
            .fetch_one(db.pool())
            .await?,
    )
}

/// Moves every noted call into the SQLite search index now (the writer does it a few
/// times a second by itself).
pub async fn index_for_search(db: &Db) -> AppResult<()> {
    while flush_search_through_pool(db).await? > 0 {}
    Ok(())
}

/// Builds the SQLite search index afresh from every stored call (for rows written
/// behind the event writer's back, such as a bulk load); nothing on PostgreSQL.
pub async fn rebuild_search_index(db: &Db) -> AppResult<()> {
    if db.backend() != Backend::Sqlite {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO calls_search(calls_search) VALUES ('rebuild')")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM calls_search_pending")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A temporary migrated SQLite database, its writer connection, and its folder (for the
/// calls module's unit tests).
#[cfg(test)]
pub(super) async fn migrated() -> (Db, rusqlite::Connection, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sb-store-{}", crate::db::new_id("t")));
    let url = format!("sqlite://{}/switchboard.db?mode=rwc", dir.display());
    let db = Db::connect(&url).await.expect("database");
    let conn = db
        .open_writer_connection()
        .expect("writer connection")
        .expect("a SQLite file");
    (db, conn, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends event `i` straight through the writer's connection (a transaction each).
    fn append_event(conn: &rusqlite::Connection, i: i64) {
        conn.execute(
            "INSERT INTO call_events (call_sid, kind, dedupe_key, payload, received_at)
             VALUES (?1, 'incoming', ?1, '[]', ?2)",
            rusqlite::params![format!("CA{i}"), i],
        )
        .expect("insert");
    }

    /// The salts in the log's header. SQLite draws new ones each time it starts the log
    /// over, and keeps them while it appends; read from the file, so that looking does
    /// not checkpoint (`PRAGMA wal_checkpoint`, the way to count frames, would).
    fn log_salts(dir: &std::path::Path) -> Vec<u8> {
        let log = std::fs::read(dir.join("switchboard.db-wal")).expect("the log");
        log.get(16..24).expect("a log header").to_vec()
    }

    /// Grows the log by fifty transactions (checking that, without a checkpoint, the log
    /// goes on: the salts stay), runs `checkpoint`, and checks that the next write starts
    /// the log over.
    async fn the_log_starts_over_after(checkpoint: impl AsyncFnOnce(&Db, &rusqlite::Connection)) {
        let (db, conn, dir) = migrated().await;
        for i in 0..50 {
            append_event(&conn, i);
        }
        let salts = log_salts(&dir);
        append_event(&conn, 50);
        assert_eq!(log_salts(&dir), salts, "no checkpoint, no new log");
        checkpoint(&db, &conn).await;
        append_event(&conn, 51);
        assert_ne!(log_salts(&dir), salts, "the log started over");
        drop(conn);
        db.pool().close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The writer's checkpoint copies the whole log when nothing writes beside it, and
    /// the next write starts the log over instead of growing it.
    #[tokio::test]
    async fn a_checkpoint_between_batches_lets_the_log_start_over() {
        the_log_starts_over_after(async |_, conn| {
            assert!(
                checkpoint(conn).expect("checkpoint"),
                "all of the log copied"
            );
        })
        .await;
    }

    /// With nothing writing beside it, housekeeping's checkpoint (two passes and a sync of
    /// what they copied) gets the whole log by itself: the next write starts the log
    /// over with no pass of the writer's.
    #[tokio::test]
    async fn housekeepings_checkpoint_alone_lets_the_log_start_over_when_nothing_writes() {
        the_log_starts_over_after(async |db, _| {
            assert!(db.checkpoint().await.expect("housekeeping's checkpoint"));
        })
        .await;
    }

    /// The search flush reads the noted rows and looks each call up, whatever the
    /// table's size: the plan's first step is the pending table, the second a lookup.
    #[tokio::test]
    async fn the_search_flush_walks_the_noted_rows_not_the_calls() {
        let (db, conn, dir) = migrated().await;
        let mut st = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                numbered(SEARCH_FLUSH_INDEX)
            ))
            .expect("plan");
        let steps: Vec<String> = st
            .query_map([1], |r| r.get::<_, String>(3))
            .expect("plan rows")
            .collect::<Result<_, _>>()
            .expect("plan text");
        drop(st);
        drop(conn);
        db.pool().close().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(
            steps[0].starts_with("SEARCH p USING INTEGER PRIMARY KEY (rowid<"),
            "{steps:?}"
        );
        assert!(
            steps[1].starts_with("SEARCH c USING INTEGER PRIMARY KEY (rowid="),
            "{steps:?}"
        );
    }
}
