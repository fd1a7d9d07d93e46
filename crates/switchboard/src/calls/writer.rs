//! The event writer: every webhook event is appended, deduplicated, checked against its
//! call's owner and folded into the call's row in one transaction per batch (group
//! commit), before the request that carried it is answered.

use sha2::{Digest, Sha256};
use sqlx::Row as _;

use super::fold::{self, CallRecord, Event, EventKind};
use super::{event_from_row, rollups, row};
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
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
#[derive(Clone)]
pub struct EventWriter {
    queue: tokio::sync::mpsc::Sender<Pending>,
}

/// Most events in one transaction.
const MAX_BATCH: usize = 256;

impl EventWriter {
    /// Starts the writer task for `db`.
    pub fn start(db: Db) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<Pending>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let events: Vec<NewEvent> = batch.iter().map(|p| p.event.clone()).collect();
                let started = std::time::Instant::now();
                let written = write_batch(&db, &events).await;
                crate::telemetry::event_batch(events.len(), started);
                match written {
                    Ok(results) => {
                        for (p, r) in batch.into_iter().zip(results) {
                            let _ = p.done.send(r);
                        }
                    }
                    // One bad event must not fail the others: retry each alone.
                    Err(_) if batch.len() > 1 => {
                        for p in batch {
                            let result = write_batch(&db, std::slice::from_ref(&p.event))
                                .await
                                .and_then(|mut r| r.pop().unwrap_or(Ok(None)));
                            let _ = p.done.send(result);
                        }
                    }
                    Err(e) => {
                        for p in batch {
                            let _ = p.done.send(Err(AppError::Internal(e.to_string().into())));
                        }
                    }
                }
            }
        });
        Self { queue }
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

/// What the database knows of a batch's calls, read once per batch.
struct Known {
    /// Call → the tenant it belongs to: its row's, else its deleted row's, else the
    /// first event of the batch that names a tenant. A call is its first tenant's for
    /// good: an event another account signed for it is refused.
    owner: std::collections::HashMap<String, String>,
    /// Calls whose logs their tenant deleted.
    deleted: std::collections::HashSet<String>,
    /// The current `calls` rows (selected with [`rollups::ROW_COLUMNS`]).
    rows: std::collections::HashMap<String, sqlx::any::AnyRow>,
}

/// Reads the rows and deleted markers of the calls `events` name for a tenant.
async fn known_calls(
    db: &Db,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    events: &[NewEvent],
) -> AppResult<Known> {
    let mut sids: Vec<&str> = events
        .iter()
        .filter(|e| e.tenant_id.is_some())
        .map(|e| e.call_sid.as_str())
        .collect();
    sids.sort_unstable();
    sids.dedup();
    let mut known = Known {
        owner: std::collections::HashMap::new(),
        deleted: std::collections::HashSet::new(),
        rows: std::collections::HashMap::new(),
    };
    for chunk in sids.chunks(200) {
        let list = db.placeholders(1, chunk.len());
        let rows_sql = format!(
            "SELECT {} FROM calls WHERE call_sid IN ({list})",
            rollups::ROW_COLUMNS
        );
        let deleted_sql =
            format!("SELECT call_sid, tenant_id FROM deleted_calls WHERE call_sid IN ({list})");
        for (sql, deleted) in [(rows_sql, false), (deleted_sql, true)] {
            let mut q = sqlx::query(&sql);
            for sid in chunk {
                q = q.bind(*sid);
            }
            for row in q.fetch_all(&mut **tx).await? {
                let sid: String = row.try_get("call_sid")?;
                let tenant: String = row.try_get("tenant_id")?;
                known.owner.entry(sid.clone()).or_insert(tenant);
                if deleted {
                    known.deleted.insert(sid);
                } else {
                    known.rows.insert(sid, row);
                }
            }
        }
    }
    for e in events {
        if let Some(t) = &e.tenant_id {
            known
                .owner
                .entry(e.call_sid.clone())
                .or_insert_with(|| t.clone());
        }
    }
    Ok(known)
}

/// Appends `events` and refolds their calls in one transaction; results in order. An
/// event whose tenant does not own its call is stored for admins and answered 403.
async fn write_batch(
    db: &Db,
    events: &[NewEvent],
) -> AppResult<Vec<AppResult<Option<CallRecord>>>> {
    let received_at = now_ms();
    let mut tx = db.pool().begin().await?;
    if db.backend() == Backend::Postgres {
        // Serialise folds of a call across processes; sorted, so two batches cannot
        // deadlock. SQLite's single write lock does this by itself.
        let mut sids: Vec<&str> = events.iter().map(|e| e.call_sid.as_str()).collect();
        sids.sort_unstable();
        sids.dedup();
        for sid in sids {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(sid)
                .execute(&mut *tx)
                .await?;
        }
    }
    // Appended first: a write as the transaction's first statement takes SQLite's write
    // lock at once (waiting on `busy_timeout` if need be), where a read first would make
    // the later upgrade fail with SQLITE_BUSY under a concurrent writer (the job queue).
    let payloads = events
        .iter()
        .map(|e| serde_json::to_string(&e.params).map_err(AppError::internal))
        .collect::<AppResult<Vec<_>>>()?;
    for (chunk_events, chunk_payloads) in events.chunks(64).zip(payloads.chunks(64)) {
        let mut sql = String::from(
            "INSERT INTO call_events (tenant_id, call_sid, kind, dedupe_key, payload, received_at) VALUES ",
        );
        let rows: Vec<String> = (0..chunk_events.len())
            .map(|i| format!("({})", db.placeholders(i * 6 + 1, 6)))
            .collect();
        sql.push_str(&rows.join(", "));
        sql.push_str(" ON CONFLICT (dedupe_key) DO NOTHING");
        let mut q = sqlx::query(&sql);
        for (e, payload) in chunk_events.iter().zip(chunk_payloads) {
            q = q
                .bind(e.tenant_id.as_deref())
                .bind(e.call_sid.as_str())
                .bind(e.kind.as_str())
                .bind(dedupe_key(&e.call_sid, e.kind, &e.params))
                .bind(payload.as_str())
                .bind(received_at);
        }
        q.execute(&mut *tx).await?;
    }
    let Known {
        owner,
        deleted,
        mut rows,
    } = known_calls(db, &mut tx, events).await?;
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
    for (e, _) in events.iter().zip(&refused).filter(|(_, r)| **r) {
        sqlx::query(
            "UPDATE call_events SET claimed_tenant_id = tenant_id, tenant_id = NULL
             WHERE dedupe_key = $1 AND tenant_id = $2 AND received_at = $3",
        )
        .bind(dedupe_key(&e.call_sid, e.kind, &e.params))
        .bind(e.tenant_id.as_deref())
        .bind(received_at)
        .execute(&mut *tx)
        .await?;
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
    let mut zones: std::collections::HashMap<String, jiff::tz::TimeZone> =
        std::collections::HashMap::new();
    for e in events {
        if let (Some(t), Some(name)) = (&e.tenant_id, &e.timezone)
            && let Ok(tz) = jiff::tz::TimeZone::get(name)
        {
            zones.insert(t.clone(), tz);
        }
    }
    let mut records: std::collections::HashMap<(String, String), CallRecord> =
        std::collections::HashMap::new();
    for chunk in routed.chunks(200) {
        // The calls' current rows (read with their owners): their rollup contributions
        // go, and only calls that already have a row can have events stored before this
        // batch. Every routed event is folded in the transaction that stores it, so a
        // call without a row has no events but this batch's: it is folded from memory,
        // with no read back.
        let mut deltas = rollups::Deltas::default();
        let mut existing: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (sid, tenant) in chunk {
            if let Some(row) = rows.remove(*sid) {
                let tz = zone(db, &mut zones, tenant).await?;
                deltas.add(rollups::from_row(&row, &tz)?, -1);
                existing.insert((*sid).to_owned());
            }
        }
        let stored: Vec<&str> = chunk
            .iter()
            .map(|(sid, _)| *sid)
            .filter(|sid| existing.contains(*sid))
            .collect();
        let mut by_call: std::collections::HashMap<(String, String), Vec<Event>> =
            std::collections::HashMap::new();
        if !stored.is_empty() {
            let sql = format!(
                "SELECT call_sid, tenant_id, kind, payload, received_at FROM call_events WHERE call_sid IN ({})",
                db.placeholders(1, stored.len())
            );
            let mut q = sqlx::query(&sql);
            for sid in &stored {
                q = q.bind(*sid);
            }
            for row in q.fetch_all(&mut *tx).await? {
                let tenant: Option<String> = row.try_get("tenant_id")?;
                let Some(tenant) = tenant else { continue };
                let sid: String = row.try_get("call_sid")?;
                by_call
                    .entry((sid, tenant))
                    .or_default()
                    .push(event_from_row(&row)?);
            }
        }
        let mut folded: Vec<(&str, &str, CallRecord)> = Vec::with_capacity(chunk.len());
        for (sid, tenant) in chunk {
            let events = if existing.contains(*sid) {
                by_call
                    .remove(&((*sid).to_owned(), (*tenant).to_owned()))
                    .unwrap_or_default()
            } else {
                batch_events(events, sid, tenant, received_at)
            };
            folded.push((sid, tenant, fold::fold(&events)));
        }
        for (_, tenant, record) in &folded {
            let tz = zone(db, &mut zones, tenant).await?;
            deltas.add(
                rollups::from_record(tenant, tracking_number(record).as_deref(), record, &tz),
                1,
            );
        }
        for rows in folded.chunks(UPSERT_ROWS) {
            upsert(db, &mut tx, rows).await?;
        }
        deltas.apply(db, &mut tx).await?;
        for (sid, tenant, record) in folded {
            records.insert((sid.to_owned(), tenant.to_owned()), record);
        }
    }
    tx.commit().await?;
    for (e, refused) in events.iter().zip(&refused) {
        if *refused {
            tracing::warn!(
                kind = e.kind.as_str(),
                "refused an event signed for a call another tenant owns; kept for admins"
            );
        }
    }
    Ok(events
        .iter()
        .zip(refused)
        .map(|(e, refused)| {
            if refused {
                return Err(AppError::Forbidden("this call belongs to another account"));
            }
            Ok(e.tenant_id
                .as_ref()
                .and_then(|t| records.get(&(e.call_sid.clone(), t.clone())).cloned()))
        })
        .collect())
}

/// A new call's events as stored by this batch: its tenant's, each once (what the
/// unique `dedupe_key` kept), stamped with the batch's time.
fn batch_events(events: &[NewEvent], call_sid: &str, tenant: &str, received_at: i64) -> Vec<Event> {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .filter(|e| e.call_sid == call_sid && e.tenant_id.as_deref() == Some(tenant))
        .filter(|e| seen.insert(dedupe_key(&e.call_sid, e.kind, &e.params)))
        .map(|e| Event {
            kind: e.kind,
            params: e.params.clone(),
            received_at,
        })
        .collect()
}

/// A tenant's zone, looked up once per batch.
async fn zone(
    db: &Db,
    zones: &mut std::collections::HashMap<String, jiff::tz::TimeZone>,
    tenant: &str,
) -> AppResult<jiff::tz::TimeZone> {
    if let Some(tz) = zones.get(tenant) {
        return Ok(tz.clone());
    }
    let tz = rollups::tenant_zone(db, tenant).await?;
    zones.insert(tenant.to_owned(), tz.clone());
    Ok(tz)
}

/// The tracking number of a call: `To` of a call to us, `From` of one we placed,
/// normalised when it can be (Twilio sends E.164).
fn tracking_number(r: &CallRecord) -> Option<String> {
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

/// Calls upserted per statement (well under both databases' parameter limits).
const UPSERT_ROWS: usize = 100;

/// Replaces the projection rows of several calls in one statement.
async fn upsert(
    db: &Db,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[(&str, &str, CallRecord)],
) -> AppResult<()> {
    let placeholders: Vec<String> = (0..rows.len())
        .map(|i| {
            format!(
                "({})",
                db.placeholders(i * row::UPSERT_COLUMNS + 1, row::UPSERT_COLUMNS)
            )
        })
        .collect();
    let sql = format!(
        "{}{}{}",
        row::UPSERT_HEAD.as_str(),
        placeholders.join(", "),
        row::UPSERT_TAIL.as_str()
    );
    let now = now_ms();
    let mut q = sqlx::query(&sql);
    for (call_sid, tenant_id, r) in rows {
        q = row::bind_upsert(q, call_sid, tenant_id, tracking_number(r), r, now);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
