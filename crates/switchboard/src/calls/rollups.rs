//! Call counts per tenant, local day, tracking number, direction, outcome and menu
//! choice (`call_rollups`), kept in step with `calls` inside the writer's transaction.
//!
//! Each call contributes one to exactly one key. When the writer refolds a call it
//! subtracts the old row's contribution and adds the new one, so the sums always equal
//! what a scan of `calls` would give. Days are the tenant's local days at the call's
//! start; a change of the tenant's time zone rebuilds its rollups.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::Row as _;

use super::{CallFilter, CallRecord, DayStats, NumberStats, Stats};
use crate::db::Db;
use crate::error::AppResult;

/// The tenant's local day number (days since 1970-01-01 in its zone) of `ms`.
pub fn local_day(ms: i64, tz: &jiff::tz::TimeZone) -> i64 {
    let offset = jiff::Timestamp::from_millisecond(ms)
        .map(|t| i64::from(tz.to_offset(t).seconds()) * 1000)
        .unwrap_or(0);
    (ms + offset).div_euclid(86_400_000)
}

/// The day number of a calendar date.
pub fn date_day(date: jiff::civil::Date) -> Option<i64> {
    let utc = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(utc.timestamp().as_second().div_euclid(86_400))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    day: i64,
    number: String,
    direction: &'static str,
    outcome: String,
    menu: String,
}

/// What one call adds to its key.
#[derive(Debug, Clone)]
pub(super) struct Contribution {
    key: Key,
    talk: i64,
    booked: i64,
}

fn direction_of(direction: Option<&str>) -> &'static str {
    if super::fold::is_outbound(direction) {
        "outbound"
    } else {
        "inbound"
    }
}

/// What a call contributes, from whichever form it is in.
struct Facts<'a> {
    tenant: &'a str,
    started_at: i64,
    number: Option<&'a str>,
    direction: Option<&'a str>,
    outcome: &'a str,
    menu: Option<&'a str>,
    talk: i64,
    booked: Option<i64>,
}

fn contribution(f: Facts<'_>, tz: &jiff::tz::TimeZone) -> Contribution {
    Contribution {
        key: Key {
            tenant: f.tenant.to_owned(),
            day: local_day(f.started_at, tz),
            number: f.number.unwrap_or_default().to_owned(),
            direction: direction_of(f.direction),
            outcome: f.outcome.to_owned(),
            menu: f.menu.unwrap_or_default().to_owned(),
        },
        talk: if f.outcome == "answered" { f.talk } else { 0 },
        booked: i64::from(f.booked.is_some_and(|b| b != 0)),
    }
}

/// The columns of `calls` a contribution needs, and the text SQLite's search index holds
/// of the call (the event writer keeps that index in step when the text changes).
pub(super) const ROW_COLUMNS: &str = "call_sid, tenant_id, started_at, twilio_number, direction, outcome, menu_choice, talk_seconds, appointment_booked, caller_name, from_number";

/// What a stored `calls` row (selected with [`ROW_COLUMNS`]) holds of its call's
/// contribution, whose call it is, and what search finds it by.
#[derive(Debug, Clone)]
pub(super) struct RowFacts {
    pub(super) call_sid: String,
    pub(super) tenant: String,
    pub(super) started_at: i64,
    pub(super) number: Option<String>,
    pub(super) direction: Option<String>,
    pub(super) outcome: String,
    pub(super) menu: Option<String>,
    pub(super) talk: i64,
    pub(super) booked: Option<i64>,
    pub(super) caller_name: Option<String>,
    pub(super) from_number: Option<String>,
}

impl RowFacts {
    /// Reads a row selected with [`ROW_COLUMNS`] through sqlx.
    pub(super) fn from_any_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            call_sid: row.try_get("call_sid")?,
            tenant: row.try_get("tenant_id")?,
            started_at: row.try_get("started_at")?,
            number: row.try_get("twilio_number")?,
            direction: row.try_get("direction")?,
            outcome: row.try_get("outcome")?,
            menu: row.try_get("menu_choice")?,
            talk: row.try_get("talk_seconds")?,
            booked: row.try_get("appointment_booked")?,
            caller_name: row.try_get("caller_name")?,
            from_number: row.try_get("from_number")?,
        })
    }

    /// What the row contributes to its key.
    pub(super) fn contribution(&self, tz: &jiff::tz::TimeZone) -> Contribution {
        contribution(
            Facts {
                tenant: &self.tenant,
                started_at: self.started_at,
                number: self.number.as_deref(),
                direction: self.direction.as_deref(),
                outcome: &self.outcome,
                menu: self.menu.as_deref(),
                talk: self.talk,
                booked: self.booked,
            },
            tz,
        )
    }
}

/// The contribution of a stored `calls` row (selected with [`ROW_COLUMNS`]).
pub(super) fn from_row(
    row: &sqlx::any::AnyRow,
    tz: &jiff::tz::TimeZone,
) -> Result<Contribution, sqlx::Error> {
    Ok(RowFacts::from_any_row(row)?.contribution(tz))
}

/// The contribution of a freshly folded record.
pub(super) fn from_record(
    tenant: &str,
    number: Option<&str>,
    r: &CallRecord,
    tz: &jiff::tz::TimeZone,
) -> Contribution {
    contribution(
        Facts {
            tenant,
            started_at: r.started_at,
            number,
            direction: r.direction.as_deref(),
            outcome: &r.outcome,
            menu: r.menu_choice.as_deref(),
            talk: r.talk_seconds,
            booked: r.appointment_booked,
        },
        tz,
    )
}

/// Net changes per key: new contributions minus old ones.
#[derive(Debug, Default)]
pub(super) struct Deltas(HashMap<Key, (i64, i64, i64)>);

/// One rollup key's net change: `(tenant, day, number, direction, outcome, menu)` and
/// the change to its calls, talk seconds and bookings.
pub(super) struct RollupChange<'a> {
    pub(super) key: (&'a str, i64, &'a str, &'static str, &'a str, &'a str),
    pub(super) calls: i64,
    pub(super) talk: i64,
    pub(super) booked: i64,
}

/// The columns of a rollup change, in the order of [`RollupChange`].
pub(super) const ROLLUP_COLUMNS: &str =
    "tenant_id, day, twilio_number, direction, outcome, menu_choice, calls, talk_seconds, booked";
/// How many shards PostgreSQL's writers spread a key's figures over (migration 0027):
/// readers sum a key's rows, and each writer adds to a shard of its own, so concurrent
/// batches do not queue on one row for each other's commits.
pub(super) const ROLLUP_SHARDS: u16 = 16;

/// Adds a batch's changes to `call_rollups`, in shard 0 (one row of nine parameters per
/// change).
pub(super) static ROLLUP_UPSERT_HEAD: LazyLock<String> =
    LazyLock::new(|| format!("INSERT INTO call_rollups ({ROLLUP_COLUMNS}) VALUES "));
pub(super) const ROLLUP_UPSERT_TAIL: &str =
    " ON CONFLICT (tenant_id, day, twilio_number, direction, outcome, menu_choice, shard) DO UPDATE SET
    calls = call_rollups.calls + excluded.calls,
    talk_seconds = call_rollups.talk_seconds + excluded.talk_seconds,
    booked = call_rollups.booked + excluded.booked";

impl Deltas {
    /// The non-zero changes, sorted by key: batches that write concurrently on
    /// PostgreSQL (several processes on one database) lock shared rows in one order, so
    /// never deadlock on each other (PostgreSQL would abort one after a second's wait).
    pub(super) fn changes(&self) -> Vec<RollupChange<'_>> {
        let mut changes: Vec<RollupChange<'_>> = self
            .0
            .iter()
            .filter(|(_, d)| **d != (0, 0, 0))
            .map(|(k, (calls, talk, booked))| RollupChange {
                key: (
                    k.tenant.as_str(),
                    k.day,
                    k.number.as_str(),
                    k.direction,
                    k.outcome.as_str(),
                    k.menu.as_str(),
                ),
                calls: *calls,
                talk: *talk,
                booked: *booked,
            })
            .collect();
        changes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        changes
    }

    pub(super) fn add(&mut self, c: Contribution, sign: i64) {
        let entry = self.0.entry(c.key).or_insert((0, 0, 0));
        entry.0 += sign;
        entry.1 += sign * c.talk;
        entry.2 += sign * c.booked;
    }

    /// Applies the non-zero changes inside a sqlx transaction.
    pub(super) async fn apply(
        self,
        db: &Db,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> AppResult<()> {
        let changes = self.changes();
        for chunk in changes.chunks(200) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", db.placeholders(i * 9 + 1, 9)))
                .collect();
            let sql = format!(
                "{}{}{ROLLUP_UPSERT_TAIL}",
                ROLLUP_UPSERT_HEAD.as_str(),
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                let (tenant, day, number, direction, outcome, menu) = c.key;
                q = q
                    .bind(tenant)
                    .bind(day)
                    .bind(number)
                    .bind(direction)
                    .bind(outcome)
                    .bind(menu)
                    .bind(c.calls)
                    .bind(c.talk)
                    .bind(c.booked);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Recomputes a tenant's rollups from its calls (after a time-zone change, or a bulk
/// load that bypassed the writer).
pub async fn rebuild(db: &Db, tenant_id: &str) -> AppResult<()> {
    let tz = tenant_zone(db, tenant_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {ROW_COLUMNS} FROM calls WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    let mut deltas = Deltas::default();
    for row in &rows {
        deltas.add(from_row(row, &tz)?, 1);
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM call_rollups WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    deltas.apply(db, &mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A tenant's time zone (UTC if unknown).
pub async fn tenant_zone(db: &Db, tenant_id: &str) -> AppResult<jiff::tz::TimeZone> {
    let tenant = crate::tenants::get(db, tenant_id).await?;
    Ok(jiff::tz::TimeZone::get(&tenant.timezone).unwrap_or(jiff::tz::TimeZone::UTC))
}

/// A filter the rollups can answer exactly: dates (not times), direction, outcome and
/// tracking number; no text search.
#[derive(Debug)]
pub(super) struct RollupFilter {
    start_day: Option<i64>,
    end_day: Option<i64>,
    direction: Option<&'static str>,
    outcomes: Option<&'static [&'static str]>,
    number: Option<String>,
}

/// Whether `f` can be answered from rollups, and how.
pub(super) fn rollup_filter(f: &CallFilter) -> Option<RollupFilter> {
    // Rollups are not kept per verdict: those filters read the calls.
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if set(&f.q) || set(&f.appointment_booked) || set(&f.call_reason) {
        return None;
    }
    let day = |s: &Option<String>| -> Result<Option<i64>, ()> {
        match s.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse::<jiff::civil::Date>()
                .ok()
                .and_then(date_day)
                .map(Some)
                .ok_or(()),
        }
    };
    let outcomes: Option<&'static [&'static str]> =
        match f.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("answered") => Some(&["answered"]),
            Some("missed") => Some(&["missed", "voicemail"]),
            Some("voicemail") => Some(&["voicemail"]),
            Some("ai-resolved") => Some(&["ai-resolved"]),
            Some("ai-booked") => Some(&["ai-booked"]),
            Some(_) => return None,
        };
    let direction = match f.direction.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("inbound") => Some("inbound"),
        Some("outbound") => Some("outbound"),
        Some(_) => return None,
    };
    let number = match f.tracking_number.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(n) => Some(crate::numbers::E164::parse(n)?.as_str().to_owned()),
    };
    Some(RollupFilter {
        start_day: day(&f.start_date).ok()?,
        end_day: day(&f.end_date).ok()?,
        direction,
        outcomes,
        number,
    })
}

/// When local day `day` begins in `tz` (unix ms).
fn day_start(day: i64, tz: &jiff::tz::TimeZone) -> Option<i64> {
    let date = jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().try_days(day).ok()?)
        .ok()?;
    Some(date.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond())
}

/// A stats filter bounded by exact times, split into the whole local days inside the
/// range (answered from rollups) and the partial days at its edges (scanned).
#[derive(Debug)]
pub(super) struct ExactSplit {
    /// The whole days, with the rest of the filter.
    pub(super) days: RollupFilter,
    /// Each partial edge: from and to (unix ms, both inclusive) and its local day.
    pub(super) edges: Vec<(i64, i64, i64)>,
}

/// Whether `f` has an exact time bound (RFC 3339, not a date) and otherwise filters
/// the way rollups can answer; then how to split it. `None` when the range holds no
/// whole day (a scan of at most two days is already quick) or a bound does not parse
/// (the scan reports it).
pub(super) fn exact_split(f: &CallFilter, tz: &jiff::tz::TimeZone) -> Option<ExactSplit> {
    let text = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (start, end) = (text(&f.start_date), text(&f.end_date));
    let is_time = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok())
    };
    if !is_time(&start) && !is_time(&end) {
        return None;
    }
    let undated = CallFilter {
        start_date: None,
        end_date: None,
        ..f.clone()
    };
    let mut days = rollup_filter(&undated)?;
    let mut edges = Vec::new();
    if let Some(s) = &start {
        let from = super::queries::parse_bound(s, false, tz)?;
        let first = local_day(from, tz);
        if day_start(first, tz)? == from {
            days.start_day = Some(first);
        } else {
            days.start_day = Some(first + 1);
            edges.push((from, day_start(first + 1, tz)? - 1, first));
        }
    }
    if let Some(e) = &end {
        let to = super::queries::parse_bound(e, true, tz)?;
        let last = local_day(to, tz);
        if day_start(last + 1, tz)? - 1 == to {
            days.end_day = Some(last);
        } else {
            days.end_day = Some(last - 1);
            edges.push((day_start(last, tz)?, to, last));
        }
    }
    if let (Some(a), Some(b)) = (days.start_day, days.end_day)
        && a > b
    {
        return None;
    }
    Some(ExactSplit { days, edges })
}

/// The WHERE clause over `call_rollups` and its binds.
fn where_clause(db: &Db, tenant: &str, f: &RollupFilter) -> (String, Vec<String>, Vec<i64>) {
    let mut texts = vec![tenant.to_owned()];
    let mut clauses = vec!["tenant_id = $T".to_owned()];
    if let Some(d) = f.direction {
        texts.push(d.to_owned());
        clauses.push("direction = $T".into());
    }
    if let Some(n) = &f.number {
        texts.push(n.clone());
        clauses.push("twilio_number = $T".into());
    }
    if let Some(outcomes) = f.outcomes {
        let marks = vec!["$T"; outcomes.len()].join(", ");
        texts.extend(outcomes.iter().map(|o| (*o).to_owned()));
        clauses.push(format!("outcome IN ({marks})"));
    }
    let mut ints = Vec::new();
    if let Some(d) = f.start_day {
        ints.push(d);
        clauses.push("day >= $I".into());
    }
    if let Some(d) = f.end_day {
        ints.push(d);
        clauses.push("day <= $I".into());
    }
    // Number the placeholders in order of appearance: texts first, then ints.
    let mut sql = clauses.join(" AND ");
    let total = texts.len() + ints.len();
    let marks = db.placeholders(1, total);
    for mark in marks.split(", ") {
        let at = match (sql.find("$T"), sql.find("$I")) {
            (Some(t), _) => t,
            (None, Some(i)) => i,
            (None, None) => break,
        };
        sql.replace_range(at..at + 2, mark);
    }
    (sql, texts, ints)
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    texts: &'q [String],
    ints: &'q [i64],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for t in texts {
        q = q.bind(t.as_str());
    }
    for i in ints {
        q = q.bind(*i);
    }
    q
}

/// Calls matching the filter.
pub(super) async fn total(db: &Db, tenant: &str, f: &RollupFilter) -> AppResult<i64> {
    let (clause, texts, ints) = where_clause(db, tenant, f);
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) AS n FROM call_rollups WHERE {clause}"
    );
    Ok(bind(sqlx::query(&sql), &texts, &ints)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// As the scan's aggregates: answered, missed and voicemails of inbound calls, and the
/// outbound ones apart.
const SUMS: &str = "CAST(COALESCE(SUM(calls), 0) AS BIGINT) AS total,
    CAST(COALESCE(SUM(CASE WHEN outcome = 'answered' AND direction <> 'outbound' THEN calls ELSE 0 END), 0) AS BIGINT) AS answered,
    CAST(COALESCE(SUM(CASE WHEN outcome IN ('missed', 'voicemail') AND direction <> 'outbound' THEN calls ELSE 0 END), 0) AS BIGINT) AS missed,
    CAST(COALESCE(SUM(CASE WHEN outcome = 'voicemail' AND direction <> 'outbound' THEN calls ELSE 0 END), 0) AS BIGINT) AS voicemails,
    CAST(COALESCE(SUM(CASE WHEN direction = 'outbound' THEN calls ELSE 0 END), 0) AS BIGINT) AS outbound";

/// Stats from rollups: the same figures a scan of `calls` gives.
pub(super) async fn stats(
    db: &Db,
    tenant: &str,
    f: &RollupFilter,
    friendly: &[(String, Option<String>)],
) -> AppResult<Stats> {
    let (clause, texts, ints) = where_clause(db, tenant, f);
    let sql = format!(
        "SELECT {SUMS},
            CAST(COALESCE(SUM(CASE WHEN direction <> 'outbound' THEN talk_seconds ELSE 0 END), 0) AS BIGINT) AS talk,
            CAST(COALESCE(SUM(booked), 0) AS BIGINT) AS booked,
            CAST(COALESCE(SUM(CASE WHEN menu_choice = '1' THEN calls ELSE 0 END), 0) AS BIGINT) AS menu_new,
            CAST(COALESCE(SUM(CASE WHEN menu_choice = '2' THEN calls ELSE 0 END), 0) AS BIGINT) AS menu_existing
         FROM call_rollups WHERE {clause}"
    );
    let row = bind(sqlx::query(&sql), &texts, &ints)
        .fetch_one(db.pool())
        .await?;
    let mut s = Stats::from_totals(&row)?;
    let day_sql = format!(
        "SELECT day, {SUMS} FROM call_rollups WHERE {clause} GROUP BY day HAVING SUM(calls) > 0 ORDER BY day"
    );
    for r in bind(sqlx::query(&day_sql), &texts, &ints)
        .fetch_all(db.pool())
        .await?
    {
        s.by_day.push(DayStats::from_row(&r)?);
    }
    let number_sql = format!(
        "SELECT twilio_number, {SUMS} FROM call_rollups WHERE {clause} AND twilio_number <> '' GROUP BY twilio_number HAVING SUM(calls) > 0 ORDER BY total DESC"
    );
    for r in bind(sqlx::query(&number_sql), &texts, &ints)
        .fetch_all(db.pool())
        .await?
    {
        s.by_number.push(NumberStats::from_row(&r, friendly)?);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_follow_the_zone() {
        let chicago = jiff::tz::TimeZone::get("America/Chicago").expect("tz");
        // 2026-11-24T03:00Z is still the 23rd in Chicago.
        let ms = "2026-11-24T03:00:00Z"
            .parse::<jiff::Timestamp>()
            .expect("ts")
            .as_millisecond();
        let d23 = date_day("2026-11-23".parse().expect("date")).expect("day");
        assert_eq!(local_day(ms, &chicago), d23);
        assert_eq!(local_day(ms, &jiff::tz::TimeZone::UTC), d23 + 1);
    }

    #[test]
    fn exact_times_split_into_whole_local_days_and_partial_edges() {
        let la = jiff::tz::TimeZone::get("America/Los_Angeles").expect("tz");
        let ms = |s: &str| s.parse::<jiff::Timestamp>().expect("ts").as_millisecond();
        let day = |s: &str| date_day(s.parse().expect("date")).expect("day");
        let times = |start: Option<&str>, end: Option<&str>| CallFilter {
            start_date: start.map(str::to_owned),
            end_date: end.map(str::to_owned),
            ..CallFilter::default()
        };
        // Noon Nov 10 to noon Nov 14, Pacific (UTC-8).
        let split = exact_split(
            &times(Some("2026-11-10T20:00:00Z"), Some("2026-11-14T20:00:00Z")),
            &la,
        )
        .expect("split");
        assert_eq!(split.days.start_day, Some(day("2026-11-11")));
        assert_eq!(split.days.end_day, Some(day("2026-11-13")));
        assert_eq!(
            split.edges,
            vec![
                (
                    ms("2026-11-10T20:00:00Z"),
                    ms("2026-11-11T08:00:00Z") - 1,
                    day("2026-11-10")
                ),
                (
                    ms("2026-11-14T08:00:00Z"),
                    ms("2026-11-14T20:00:00Z"),
                    day("2026-11-14")
                ),
            ]
        );
        // From exactly a local midnight: no left edge. One bound: one side.
        let split = exact_split(&times(Some("2026-11-11T08:00:00Z"), None), &la).expect("split");
        assert_eq!(split.days.start_day, Some(day("2026-11-11")));
        assert_eq!((split.days.end_day, split.edges.len()), (None, 0));
        // Dates alone are the rollups' already; a search, or a range inside one day, scans.
        assert!(exact_split(&times(Some("2026-11-10"), Some("2026-11-12")), &la).is_none());
        let mut searched = times(Some("2026-11-10T20:00:00Z"), None);
        searched.q = Some("555".into());
        assert!(exact_split(&searched, &la).is_none());
        assert!(
            exact_split(
                &times(Some("2026-11-10T09:00:00Z"), Some("2026-11-10T20:00:00Z")),
                &la
            )
            .is_none()
        );
    }

    #[test]
    fn only_exact_filters_use_rollups() {
        let f = |status: Option<&str>, q: Option<&str>, start: Option<&str>| CallFilter {
            status: status.map(str::to_owned),
            q: q.map(str::to_owned),
            start_date: start.map(str::to_owned),
            ..CallFilter::default()
        };
        assert!(rollup_filter(&f(None, None, None)).is_some());
        assert!(rollup_filter(&f(Some("missed"), None, Some("2026-11-01"))).is_some());
        assert!(
            rollup_filter(&f(Some("busy"), None, None)).is_none(),
            "dial statuses are not in the key"
        );
        assert!(
            rollup_filter(&f(None, Some("jane"), None)).is_none(),
            "text search scans"
        );
        assert!(
            rollup_filter(&f(None, None, Some("2026-11-01T10:00:00Z"))).is_none(),
            "times are not days"
        );
    }
}
