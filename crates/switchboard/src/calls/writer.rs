//! The event writer: every webhook event is appended, deduplicated, checked against its
//! call's owner and folded into the call's row in one transaction per batch (group
//! commit), before the request that carried it is answered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::fold::{self, CallRecord, Event, EventKind};
use super::pg_batch::{self, PgBatch};
use super::rollups::{self, RowFacts};
use super::store::{self, BatchStore, CallWrite, EventRow, SqliteBatch, SqlxBatch, Stored};
use crate::db::{Backend, Db, now_ms};
use crate::error::{AppError, AppResult};

/// The dedupe key of an event: the same call, kind and payload — or, for status
/// callbacks, the same leg and Twilio sequence number, for the receptionist's turns the
/// same turn number — is stored once.
fn dedupe_key(call_sid: &str, kind: EventKind, params: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    h.update(call_sid.as_bytes());
    h.update([0]);
    h.update(kind.as_str().as_bytes());
    h.update([0]);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match (kind, get("SequenceNumber")) {
        (EventKind::Status | EventKind::DialLeg, Some(seq)) => {
            h.update(get("CallSid").unwrap_or_default().as_bytes());
            h.update([0]);
            h.update(get("CallStatus").unwrap_or_default().as_bytes());
            h.update([0]);
            h.update(seq.as_bytes());
        }
        // One turn of the receptionist's conversation is stored once, whatever a
        // duplicate of its Gather callback would have made of it.
        (EventKind::Agent, _) if get("Turn").is_some() => {
            h.update(get("Turn").unwrap_or_default().as_bytes());
        }
        _ => {
            let mut sorted: Vec<&(String, String)> = params.iter().collect();
            sorted.sort();
            for (k, v) in sorted {
                h.update(k.as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([1]);
            }
        }
    }
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(digest.len() * 2);
    for b in digest.iter() {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    key
}

/// One event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The owning tenant, `None` when unrouted.
    pub tenant_id: Option<String>,
    /// The call it belongs to (the parent call for leg events).
    pub call_sid: String,
    /// What it is.
    pub kind: EventKind,
    /// The parameters Twilio sent.
    pub params: Vec<(String, String)>,
    /// The tenant's time zone when the caller knows it (saves the writer a lookup).
    pub timezone: Option<String>,
}

struct Pending {
    event: NewEvent,
    done: tokio::sync::oneshot::Sender<AppResult<Option<CallRecord>>>,
}

/// Stores events with group commit: every event waiting when the writer is free goes
/// into one transaction, each affected call is refolded once, and each request is
/// answered after the commit. One writer means SQLite never busy-waits on its lock,
/// and a commit's cost is shared by everything in it.
///
/// On a SQLite file the writer is a thread of its own with its own connection (see
/// [`super::store`]); otherwise a task writing through the pool.
#[derive(Clone)]
pub struct EventWriter {
    queue: tokio::sync::mpsc::Sender<Pending>,
    log_copied: Arc<AtomicBool>,
}

/// Most events in one transaction.
const MAX_BATCH: usize = 256;

/// PostgreSQL batches in flight at once in one process. Calls' advisory locks keep two
/// batches from folding one call at once, and their sorted locks (calls, then rollup
/// rows) from deadlocking, as between processes. One measured best: with three, batches
/// got smaller and each event cost more CPU (`bench webhooks`: 7,000–7,400 calls a
/// second against 7,500, and 6,100–6,800 against 9,300 for two processes), and two
/// call-flow tests on PostgreSQL once hung with every task idle (cause not found).
const POSTGRES_WRITERS: u16 = 1;

type BatchResults = Vec<AppResult<Option<CallRecord>>>;

/// How often the writer moves new calls into SQLite's search index (between batches):
/// often enough that few calls wait, seldom enough that the index's cost per
/// transaction is paid a few times a second rather than once a batch.
const SEARCH_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// How soon the next flush comes after one that moved all it may: calls are being noted
/// faster than one flush every [`SEARCH_FLUSH_EVERY`] takes in, and the backlog (which
/// search checks row by row) would grow for as long as the load lasts.
const SEARCH_FLUSH_BEHIND: std::time::Duration = std::time::Duration::from_millis(10);

/// Where a writer's batches go.
trait Connection {
    async fn write(&mut self, db: &Db, events: &[NewEvent]) -> AppResult<BatchResults>;
    /// Moves calls noted for SQLite's search index into it; how many.
    async fn flush_search(&mut self, db: &Db) -> AppResult<usize>;
    /// Checkpoints SQLite's write-ahead log between batches; whether all of it (`None`:
    /// not this connection's to do).
    fn checkpoint(&mut self) -> AppResult<Option<bool>>;
}

/// Through the pool: SQLite without a file, in a sqlx transaction, or PostgreSQL on a
/// connection the writer keeps (no checkout and liveness ping a batch; its prepared
/// statements stay). A batch that fails closes the kept connection, in case the fault
/// was the connection's: the next batch takes a fresh one.
struct ThroughPool {
    kept: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    /// The rollup shard this writer adds to on PostgreSQL.
    shard: u16,
}

impl ThroughPool {
    async fn write_postgres(
        &mut self,
        db: &Db,
        events: &[NewEvent],
        zones: &Zones,
    ) -> AppResult<BatchResults> {
        let conn = match &mut self.kept {
            Some(conn) => conn,
            None => {
                let mut conn = db.pool().acquire().await?;
                if let Err(e) = pg_batch::prepare(&mut conn).await {
                    conn.close_on_drop();
                    return Err(e);
                }
                self.kept.insert(conn)
            }
        };
        let mut written = None;
        if events.iter().all(|e| e.kind == EventKind::Incoming) {
            // A call's first request: one round trip, unless a call was stored already.
            let mut guessed_wrong = false;
            let batch = PgBatch::begin_new_calls(conn, self.shard, &mut guessed_wrong);
            let guessed = write_batch(batch, events, zones).await;
            if !guessed_wrong {
                written = Some(guessed);
            } else if let Err(e) = pg_batch::roll_back(conn).await {
                written = Some(Err(e));
            }
        }
        let written = match written {
            Some(written) => written,
            None => write_batch(PgBatch::begin(conn, self.shard), events, zones).await,
        };
        if written.is_err()
            && let Some(mut conn) = self.kept.take()
        {
            conn.close_on_drop();
        }
        written
    }
}

impl Connection for ThroughPool {
    async fn write(&mut self, db: &Db, events: &[NewEvent]) -> AppResult<BatchResults> {
        let zones = zones(db, events).await?;
        match db.backend() {
            Backend::Postgres => self.write_postgres(db, events, &zones).await,
            Backend::Sqlite => write_batch(SqlxBatch::begin(db).await?, events, &zones).await,
        }
    }

    async fn flush_search(&mut self, db: &Db) -> AppResult<usize> {
        store::flush_search_through_pool(db).await
    }

    /// PostgreSQL has no such log, nor does SQLite without a file.
    fn checkpoint(&mut self) -> AppResult<Option<bool>> {
        Ok(None)
    }
}

/// The writer thread's own SQLite connection.
impl Connection for rusqlite::Connection {
    async fn write(&mut self, db: &Db, events: &[NewEvent]) -> AppResult<BatchResults> {
        // Looked up before the write lock is taken.
        let zones = zones(db, events).await?;
        write_batch(SqliteBatch::begin(self)?, events, &zones).await
    }

    async fn flush_search(&mut self, _db: &Db) -> AppResult<usize> {
        store::flush_search(self)
    }

    fn checkpoint(&mut self) -> AppResult<Option<bool>> {
        store::checkpoint(self).map(Some)
    }
}

/// The longest the writer goes without finishing a checkpoint while it writes, when
/// housekeeping's checkpoints (which say when they are done) do not come.
const CHECKPOINT_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection and when it last flushed the search index and checkpointed.
struct Writer<C> {
    conn: C,
    next_flush: std::time::Instant,
    last_checkpoint: std::time::Instant,
    /// Set by housekeeping when its checkpoint has copied most of the log.
    log_copied: Arc<AtomicBool>,
}

impl<C: Connection> Writer<C> {
    fn new(conn: C, log_copied: Arc<AtomicBool>) -> Self {
        Self {
            conn,
            next_flush: std::time::Instant::now() + SEARCH_FLUSH_EVERY,
            last_checkpoint: std::time::Instant::now(),
            log_copied,
        }
    }

    /// Upkeep between batches: the search index every [`SEARCH_FLUSH_EVERY`] (sooner
    /// while it falls behind),
    /// and the last of SQLite's log into the database file.
    ///
    /// A checkpoint has two halves. Housekeeping copies the bulk of the log on a thread
    /// of its own while batches go on; it cannot finish, since batches land meanwhile,
    /// and SQLite rewinds the log only after a checkpoint that copied all of it (else
    /// the log grows for as long as the load lasts — gigabytes, each new block zeroed
    /// by the file system on a commit's path). So when housekeeping is done, the writer
    /// copies what landed since, between two of its batches, where nothing else writes,
    /// and its next batch rewinds the log. Housekeeping has synced the pages it copied
    /// and taken a second pass, so what is left here is a few frames and two short syncs
    /// (0.7 ms on average at 1,000 calls a second; 1.3 ms, and a p99 past 5 ms over
    /// three minutes, when this pass also synced housekeeping's pages).
    /// Finishing only every second or so measured worse: the pause grows with the log
    /// (p99 at 1,000/s 7.0 ms against 5.2–5.5 ms), and a saturating load's log grows
    /// by hundreds of megabytes meanwhile.
    async fn after_batch(&mut self, db: &Db) {
        let now = std::time::Instant::now();
        if now >= self.next_flush {
            let wait = match self.conn.flush_search(db).await {
                Ok(moved) if moved >= store::SEARCH_FLUSH_ROWS => SEARCH_FLUSH_BEHIND,
                Ok(_) => SEARCH_FLUSH_EVERY,
                Err(e) => {
                    tracing::warn!(error = %e, "could not update the search index; will retry");
                    SEARCH_FLUSH_EVERY
                }
            };
            self.next_flush = now + wait;
        }
        if self.log_copied.swap(false, Ordering::AcqRel)
            || self.last_checkpoint.elapsed() >= CHECKPOINT_AT_LEAST_EVERY
        {
            let started = std::time::Instant::now();
            self.last_checkpoint = started;
            match self.conn.checkpoint() {
                Ok(Some(complete)) => crate::telemetry::writer_checkpoint(complete, started),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed; will retry"),
            }
        }
    }
}

/// `first` and every request waiting behind it, up to [`MAX_BATCH`].
fn drain(first: Pending, rx: &mut tokio::sync::mpsc::Receiver<Pending>) -> Vec<Pending> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    batch
}

/// Writes one batch and answers its requests.
async fn serve<C: Connection>(db: &Db, writer: &mut Writer<C>, batch: Vec<Pending>) {
    let conn = &mut writer.conn;
    // Taken apart rather than cloned: an event's parameters are a few dozen strings.
    let (events, answers): (Vec<NewEvent>, Vec<_>) =
        batch.into_iter().map(|p| (p.event, p.done)).unzip();
    let started = std::time::Instant::now();
    let written = conn.write(db, &events).await;
    crate::telemetry::event_batch(events.len(), started);
    match written {
        Ok(results) => {
            for (done, r) in answers.into_iter().zip(results) {
                let _ = done.send(r);
            }
        }
        // One bad event must not fail the others: retry each alone.
        Err(_) if events.len() > 1 => {
            for (event, done) in events.iter().zip(answers) {
                let result = conn
                    .write(db, std::slice::from_ref(event))
                    .await
                    .and_then(|mut r| r.pop().unwrap_or(Ok(None)));
                let _ = done.send(result);
            }
        }
        Err(e) => {
            for done in answers {
                let _ = done.send(Err(AppError::Internal(e.to_string().into())));
            }
        }
    }
    writer.after_batch(db).await;
}

impl EventWriter {
    /// Starts the writer for `db`: a thread with its own connection on a SQLite file,
    /// else a task on the pool.
    pub fn start(db: Db) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<Pending>(4096);
        let own = match db.open_writer_connection() {
            Ok(own) => own,
            Err(e) => {
                tracing::warn!(error = %e, "the event writer could not open its own SQLite connection; writing through the pool");
                None
            }
        };
        let runtime = tokio::runtime::Handle::current();
        let log_copied = Arc::new(AtomicBool::new(false));
        match own {
            Some(conn) => {
                let mut writer = Writer::new(conn, log_copied.clone());
                let spawned = std::thread::Builder::new()
                    .name("event-writer".into())
                    .spawn(move || {
                        // What an earlier run left noted, before the first batch.
                        while let Ok(moved) = store::flush_search(&mut writer.conn)
                            && moved > 0
                        {}
                        while let Some(first) = rx.blocking_recv() {
                            let batch = drain(first, &mut rx);
                            runtime.block_on(serve(&db, &mut writer, batch));
                        }
                    });
                if let Err(e) = spawned {
                    // Without its thread the queue's receiver is gone: every record
                    // then answers "the event writer has stopped".
                    tracing::error!(error = %e, "could not start the event writer thread");
                }
            }
            None => {
                // SQLite writes one transaction at a time; PostgreSQL takes several
                // batches at once, each waiting on its round trips and its commit's
                // flush while the others run.
                let writers = match db.backend() {
                    Backend::Postgres => POSTGRES_WRITERS,
                    Backend::Sqlite => 1,
                };
                let rx = Arc::new(tokio::sync::Mutex::new(rx));
                // Shards apart within the process; from a random start, so that the
                // writers of other processes seldom share them.
                let first_shard = rand::random::<u16>();
                for i in 0..writers {
                    let (db, rx) = (db.clone(), rx.clone());
                    let conn = ThroughPool {
                        kept: None,
                        shard: first_shard.wrapping_add(i) % rollups::ROLLUP_SHARDS,
                    };
                    let mut writer = Writer::new(conn, log_copied.clone());
                    runtime.spawn(async move {
                        loop {
                            let batch = {
                                let mut rx = rx.lock().await;
                                let Some(first) = rx.recv().await else { break };
                                drain(first, &mut rx)
                            };
                            serve(&db, &mut writer, batch).await;
                        }
                    });
                }
            }
        }
        Self { queue, log_copied }
    }

    /// Housekeeping copied most of SQLite's log into the database: the writer copies
    /// the rest between its next two batches (see `Writer::after_batch`).
    pub fn log_copied(&self) {
        self.log_copied.store(true, Ordering::Release);
    }

    /// Stores one event durably and returns its call's new record (`None` when unrouted).
    pub async fn record(&self, event: NewEvent) -> AppResult<Option<CallRecord>> {
        crate::telemetry::webhook_event(event.kind.as_str());
        let (done, wait) = tokio::sync::oneshot::channel();
        self.queue
            .send(Pending { event, done })
            .await
            .map_err(|_| AppError::Internal("the event writer has stopped".into()))?;
        wait.await
            .map_err(|_| AppError::Internal("the event writer dropped a request".into()))?
    }
}

type Zones = HashMap<String, jiff::tz::TimeZone>;

/// The time zones of the tenants `events` name: the one an event carries, else the
/// tenant's setting.
async fn zones(db: &Db, events: &[NewEvent]) -> AppResult<Zones> {
    let mut zones = Zones::new();
    for e in events {
        if let (Some(t), Some(name)) = (&e.tenant_id, &e.timezone)
            && let Ok(tz) = jiff::tz::TimeZone::get(name)
        {
            zones.insert(t.clone(), tz);
        }
    }
    for e in events {
        if let Some(t) = &e.tenant_id
            && !zones.contains_key(t)
        {
            let tz = match rollups::tenant_zone(db, t).await {
                Ok(tz) => tz,
                // Deleted meanwhile: its events are still stored.
                Err(AppError::NotFound) => jiff::tz::TimeZone::UTC,
                Err(e) => return Err(e),
            };
            zones.insert(t.clone(), tz);
        }
    }
    Ok(zones)
}

/// Who owns each call of a batch: its row's tenant, else its deleted row's, else the
/// first event of the batch that names a tenant. A call is its first tenant's for
/// good: an event another account signed for it is refused.
fn owners(stored: &Stored, events: &[NewEvent]) -> HashMap<String, String> {
    let mut owner = HashMap::new();
    for r in &stored.rows {
        owner
            .entry(r.call_sid.clone())
            .or_insert_with(|| r.tenant.clone());
    }
    for (sid, tenant) in &stored.deleted {
        owner.entry(sid.clone()).or_insert_with(|| tenant.clone());
    }
    for e in events {
        if let Some(t) = &e.tenant_id {
            owner.entry(e.call_sid.clone()).or_insert_with(|| t.clone());
        }
    }
    owner
}

/// Appends `events` and refolds their calls in one transaction; results in order. An
/// event whose tenant does not own its call is stored for admins and answered 403.
async fn write_batch(
    mut store: impl BatchStore,
    events: &[NewEvent],
    zones: &Zones,
) -> AppResult<BatchResults> {
    let received_at = now_ms();
    // Appended first: a write as the transaction's first statement takes SQLite's write
    // lock at once (waiting on `busy_timeout` if need be), where a read first would make
    // the later upgrade fail with SQLITE_BUSY under a concurrent writer (the job queue).
    let payloads = events
        .iter()
        .map(|e| serde_json::to_string(&e.params).map_err(AppError::internal))
        .collect::<AppResult<Vec<_>>>()?;
    let keys: Vec<String> = events
        .iter()
        .map(|e| dedupe_key(&e.call_sid, e.kind, &e.params))
        .collect();
    let rows: Vec<EventRow<'_>> = events
        .iter()
        .zip(&payloads)
        .zip(&keys)
        .map(|((e, payload), key)| EventRow {
            tenant_id: e.tenant_id.as_deref(),
            call_sid: &e.call_sid,
            kind: e.kind.as_str(),
            dedupe_key: key,
            payload,
            received_at,
        })
        .collect();
    store.append(&rows).await?;

    let mut routed_sids: Vec<&str> = events
        .iter()
        .filter(|e| e.tenant_id.is_some())
        .map(|e| e.call_sid.as_str())
        .collect();
    routed_sids.sort_unstable();
    routed_sids.dedup();
    let stored = store.stored(&routed_sids).await?;
    let owner = owners(&stored, events);
    let deleted: HashSet<&str> = stored.deleted.iter().map(|(s, _)| s.as_str()).collect();
    let mut rows: HashMap<&str, &RowFacts> = stored
        .rows
        .iter()
        .map(|r| (r.call_sid.as_str(), r))
        .collect();

    // An event naming a tenant that does not own its call is refused: kept with no
    // tenant (never folded), and the tenant that claimed it.
    let refused: Vec<bool> = events
        .iter()
        .map(|e| {
            e.tenant_id
                .as_ref()
                .is_some_and(|t| owner.get(&e.call_sid) != Some(t))
        })
        .collect();
    for ((e, key), _) in events.iter().zip(&keys).zip(&refused).filter(|(_, r)| **r) {
        if let Some(t) = &e.tenant_id {
            store.refuse(&e.call_sid, key, t, received_at).await?;
        }
    }

    // Refold every routed call the batch touched, once, under its owner. Calls whose
    // logs the tenant deleted keep their late events but are not refolded.
    let mut routed: Vec<(&str, &str)> = events
        .iter()
        .zip(&refused)
        .filter(|(_, refused)| !**refused)
        .filter_map(|(e, _)| e.tenant_id.as_deref().map(|t| (e.call_sid.as_str(), t)))
        .filter(|(sid, _)| !deleted.contains(*sid))
        .collect();
    routed.sort_unstable();
    routed.dedup();
    let zone = |tenant: &str| {
        zones
            .get(tenant)
            .cloned()
            .unwrap_or(jiff::tz::TimeZone::UTC)
    };

    // The calls' current rows: their rollup contributions go, and only calls that
    // already have a row can have events stored before this batch. Every routed event is
    // folded in the transaction that stores it, so a call without a row has no events
    // but this batch's: it is folded from memory, with no read back.
    let mut deltas = rollups::Deltas::default();
    let mut existing: HashMap<&str, &RowFacts> = HashMap::new();
    for (sid, tenant) in &routed {
        if let Some(row) = rows.remove(*sid) {
            deltas.add(row.contribution(&zone(tenant)), -1);
            existing.insert(*sid, row);
        }
    }
    let reread: Vec<&str> = routed
        .iter()
        .map(|(sid, _)| *sid)
        .filter(|sid| existing.contains_key(*sid))
        .collect();
    let mut by_call: HashMap<(String, String), Vec<Event>> = HashMap::new();
    if !reread.is_empty() {
        for (sid, tenant, event) in store.events_of(&reread).await? {
            by_call.entry((sid, tenant)).or_default().push(event);
        }
    }
    let mut folded: Vec<CallWrite<'_>> = Vec::with_capacity(routed.len());
    for (sid, tenant) in &routed {
        let stored_row = existing.get(*sid);
        let events = if stored_row.is_some() {
            by_call
                .remove(&((*sid).to_owned(), (*tenant).to_owned()))
                .unwrap_or_default()
        } else {
            batch_events(events, &keys, sid, tenant, received_at)
        };
        let record = fold::fold(&events);
        let renamed = stored_row.is_some_and(|row| {
            row.caller_name != record.caller_name || row.from_number != record.from
        });
        folded.push(CallWrite {
            call_sid: sid,
            tenant_id: tenant,
            record,
            existing: stored_row.is_some(),
            renamed,
        });
    }
    for c in &folded {
        deltas.add(
            rollups::from_record(
                c.tenant_id,
                tracking_number(&c.record).as_deref(),
                &c.record,
                &zone(c.tenant_id),
            ),
            1,
        );
    }
    store.finish(&folded, now_ms(), deltas).await?;
    for (e, refused) in events.iter().zip(&refused) {
        if *refused {
            tracing::warn!(
                kind = e.kind.as_str(),
                "refused an event signed for a call another tenant owns; kept for admins"
            );
        }
    }
    let records: HashMap<(&str, &str), CallRecord> = folded
        .into_iter()
        .map(|c| ((c.call_sid, c.tenant_id), c.record))
        .collect();
    Ok(events
        .iter()
        .zip(refused)
        .map(|(e, refused)| {
            if refused {
                return Err(AppError::Forbidden("this call belongs to another account"));
            }
            Ok(e.tenant_id
                .as_deref()
                .and_then(|t| records.get(&(e.call_sid.as_str(), t)).cloned()))
        })
        .collect())
}

/// A new call's events as stored by this batch: its tenant's, each once (what the
/// unique `dedupe_key` kept), stamped with the batch's time.
fn batch_events(
    events: &[NewEvent],
    keys: &[String],
    call_sid: &str,
    tenant: &str,
    received_at: i64,
) -> Vec<Event> {
    let mut seen = HashSet::new();
    events
        .iter()
        .zip(keys)
        .filter(|(e, _)| e.call_sid == call_sid && e.tenant_id.as_deref() == Some(tenant))
        .filter(|(_, key)| seen.insert(key.as_str()))
        .map(|(e, _)| Event {
            kind: e.kind,
            params: e.params.clone(),
            received_at,
        })
        .collect()
}

/// The tracking number of a call: `To` of a call to us, `From` of one we placed,
/// normalised when it can be (Twilio sends E.164).
pub(super) fn tracking_number(r: &CallRecord) -> Option<String> {
    let ours = if super::fold::is_outbound(r.direction.as_deref()) {
        r.from.as_deref()
    } else {
        r.to.as_deref()
    };
    ours.map(|to| {
        crate::numbers::E164::lookup_key(to)
            .map_or_else(|| to.to_owned(), |n| n.as_str().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keys_are_the_lowercase_hex_of_their_digest() {
        // Keys already stored must keep matching: the spelling is part of the schema.
        let params = vec![
            ("CallSid".to_owned(), "CA1".to_owned()),
            ("CallStatus".to_owned(), "ringing".to_owned()),
        ];
        let key = dedupe_key("CA1", EventKind::Incoming, &params);
        let mut h = Sha256::new();
        for part in ["CA1", "incoming"] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for (k, v) in &params {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([1]);
        }
        let expected: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key, expected);
        assert_eq!(key.len(), 64);
    }

    /// A backlog of noted calls larger than one flush takes is worked off in quick
    /// succession, not one flush per [`SEARCH_FLUSH_EVERY`].
    #[tokio::test]
    async fn a_search_backlog_is_flushed_without_waiting_the_full_interval() {
        let (db, conn, dir) = store::migrated().await;
        let noted = 2 * store::SEARCH_FLUSH_ROWS + 88;
        conn.execute_batch(&format!(
            "INSERT INTO tenants (id, name, timezone, created_at, updated_at) VALUES ('t1', 'T', 'UTC', 0, 0);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {noted})
             INSERT INTO calls (call_sid, tenant_id, from_number, outcome, started_at, updated_at)
                 SELECT 'CA' || i, 't1', '+1555000' || i, 'answered', 0, 0 FROM n;
             INSERT INTO calls_search_pending (call_rowid) SELECT rowid FROM calls;"
        ))
        .expect("noted calls");
        let mut writer = Writer::new(conn, Arc::new(AtomicBool::new(false)));
        tokio::time::sleep(SEARCH_FLUSH_EVERY + std::time::Duration::from_millis(10)).await;
        for _ in 0..3 {
            writer.after_batch(&db).await;
            tokio::time::sleep(SEARCH_FLUSH_BEHIND + std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(store::search_backlog(&db).await.expect("backlog"), 0);
        drop(writer);
        db.pool().close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
