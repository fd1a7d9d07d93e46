//! The `calls` row, spelled once. The macro below lists every column the fold writes
//! with the [`CallRecord`] field it holds; the upsert's column list, its `ON CONFLICT`
//! clause, its binds, the select's column list and the decoding of a row back into a
//! record are all generated from it. Adding a column is one line here (plus the
//! migration and, when clients should see it, the [`super::CallLog`] view); reading a
//! record back names every field, so a field missing here does not compile.

use std::sync::LazyLock;

use sqlx::Row as _;
use sqlx::any::{AnyArguments, AnyRow};

use super::fold::CallRecord;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>;

macro_rules! folded_columns {
    ($($column:ident => $field:ident: $ty:ty),* $(,)?) => {
        /// The columns the fold writes, in statement order.
        const FOLDED: &[&str] = &[$(stringify!($column)),*];

        /// Binds a record's folded columns, in [`FOLDED`] order.
        fn bind_folded<'q>(mut q: AnyQuery<'q>, r: &CallRecord) -> AnyQuery<'q> {
            $( q = q.bind(r.$field.clone()); )*
            q
        }

        /// A record's folded columns as rusqlite parameters, in [`FOLDED`] order.
        fn folded_values(
            r: &CallRecord,
        ) -> rusqlite::Result<Vec<rusqlite::types::ToSqlOutput<'_>>> {
            use rusqlite::ToSql as _;
            Ok(vec![$( r.$field.to_sql()? ),*])
        }

        /// A record's folded columns into a JSON object keyed by column (PostgreSQL's
        /// writer sends its rows as one JSON document).
        fn folded_json(r: &CallRecord, row: &mut serde_json::Map<String, serde_json::Value>) {
            $( row.insert(stringify!($column).to_owned(), serde_json::Value::from(r.$field.clone())); )*
        }

        /// The record a stored row holds.
        pub(super) fn record_from_row(row: &AnyRow) -> Result<CallRecord, sqlx::Error> {
            Ok(CallRecord {
                $( $field: row.try_get::<$ty, _>(stringify!($column))?, )*
            })
        }
    };
}

folded_columns! {
    from_number => from: Option<String>,
    to_number => to: Option<String>,
    direction => direction: Option<String>,
    status => status: Option<String>,
    dial_status => dial_status: Option<String>,
    outcome => outcome: String,
    talk_seconds => talk_seconds: i64,
    call_seconds => call_seconds: Option<i64>,
    menu_choice => menu_choice: Option<String>,
    started_at => started_at: i64,
    answered_at => answered_at: Option<i64>,
    ended_at => ended_at: Option<i64>,
    ringing_seconds => ringing_seconds: Option<i64>,
    recording_sid => recording_sid: Option<String>,
    recording_url => recording_url: Option<String>,
    recording_seconds => recording_seconds: Option<i64>,
    voicemail_sid => voicemail_sid: Option<String>,
    voicemail_url => voicemail_url: Option<String>,
    voicemail_seconds => voicemail_seconds: Option<i64>,
    caller_name => caller_name: Option<String>,
    caller_city => caller_city: Option<String>,
    caller_state => caller_state: Option<String>,
    caller_zip => caller_zip: Option<String>,
    caller_country => caller_country: Option<String>,
    price => price: Option<String>,
    price_unit => price_unit: Option<String>,
    transcript_text => transcript_text: Option<String>,
    transcript_sid => transcript_sid: Option<String>,
    summary_text => summary_text: Option<String>,
    call_reason => call_reason: Option<String>,
    transcript_source => transcript_source: Option<String>,
    vi_call_reason => vi_call_reason: Option<String>,
    appointment_booked => appointment_booked: Option<i64>,
    classification_source => classification_source: Option<String>,
    classification_evidence => classification_evidence: Option<String>,
    classifier_version => classifier_version: Option<String>,
    classified_hash => classified_hash: Option<String>,
    corrected_by => corrected_by: Option<String>,
    corrected_at => corrected_at: Option<i64>,
    user_id => user_id: Option<String>,
    conversation => conversation: Option<String>,
    ai_outcome => ai_outcome: Option<String>,
    media_erased_at => media_erased_at: Option<i64>,
}

/// Keys and bookkeeping around the folded columns: who the call is, whose, which
/// tracking number, and when the row was written.
const KEYS: &[&str] = &["call_sid", "tenant_id", "twilio_number"];
const WRITTEN_AT: &str = "updated_at";
/// Columns written by others than the fold (intelligence, contacts) but read with a row.
const READ_ALSO: &[&str] = &["quality_metrics", "contact_id"];

/// Parameters per upserted row.
pub(super) const UPSERT_COLUMNS: usize = KEYS.len() + FOLDED.len() + 1;

/// Everything a call log is read with.
pub(super) static SELECT_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    KEYS.iter()
        .chain(FOLDED)
        .chain(READ_ALSO)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
});

/// The columns an upsert writes, in the order of its values.
pub(super) static UPSERT_COLUMN_LIST: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = KEYS
        .iter()
        .chain(FOLDED)
        .copied()
        .chain([WRITTEN_AT])
        .collect();
    columns.join(", ")
});

/// `INSERT INTO calls (…) VALUES ` — the rows' placeholders follow.
pub(super) static UPSERT_HEAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO calls ({}) VALUES ",
        UPSERT_COLUMN_LIST.as_str()
    )
});

/// What follows the rows: replace everything but the keys, and only within the owner
/// (a call never changes tenant; see the writer's ownership check).
pub(super) static UPSERT_TAIL: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = KEYS[2..]
        .iter()
        .chain(FOLDED)
        .copied()
        .chain([WRITTEN_AT])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        " ON CONFLICT (call_sid) DO UPDATE SET {} WHERE calls.tenant_id = excluded.tenant_id",
        set.join(", ")
    )
});

/// Binds one row of the upsert, in the order of [`UPSERT_HEAD`].
pub(super) fn bind_upsert<'q>(
    q: AnyQuery<'q>,
    call_sid: &'q str,
    tenant_id: &'q str,
    tracking_number: Option<String>,
    record: &CallRecord,
    now: i64,
) -> AnyQuery<'q> {
    let q = q.bind(call_sid).bind(tenant_id).bind(tracking_number);
    bind_folded(q, record).bind(now)
}

/// One row of the upsert as a JSON object keyed by column (every column of
/// [`UPSERT_COLUMN_LIST`]).
pub(super) fn upsert_json(
    call_sid: &str,
    tenant_id: &str,
    tracking_number: Option<String>,
    record: &CallRecord,
    now: i64,
) -> serde_json::Value {
    let mut row = serde_json::Map::with_capacity(UPSERT_COLUMNS);
    row.insert("call_sid".to_owned(), call_sid.into());
    row.insert("tenant_id".to_owned(), tenant_id.into());
    row.insert("twilio_number".to_owned(), tracking_number.into());
    folded_json(record, &mut row);
    row.insert(WRITTEN_AT.to_owned(), now.into());
    serde_json::Value::Object(row)
}

/// One row of the upsert as rusqlite parameters, in the order of [`UPSERT_HEAD`].
pub(super) fn upsert_values<'a>(
    call_sid: &'a str,
    tenant_id: &'a str,
    tracking_number: Option<String>,
    record: &'a CallRecord,
    now: i64,
) -> rusqlite::Result<Vec<rusqlite::types::ToSqlOutput<'a>>> {
    use rusqlite::types::ToSqlOutput;
    let mut values = vec![
        ToSqlOutput::from(call_sid),
        ToSqlOutput::from(tenant_id),
        tracking_number.map_or(ToSqlOutput::from(rusqlite::types::Null), ToSqlOutput::from),
    ];
    values.extend(folded_values(record)?);
    values.push(ToSqlOutput::from(now));
    Ok(values)
}

/// A new call's row with `?n` placeholders, in the order of [`upsert_values`] (the
/// SQLite writer's prepared statement, for calls it found no row of).
///
/// The SQLite writer inserts or updates rather than upserting, and no trigger fires on
/// either: a statement that may write more than one row (an upsert's update, a trigger)
/// and may abort (a `NOT NULL` column) makes SQLite copy every page it touches into a
/// statement journal first — a tenth of the writer's time when it upserted.
pub(super) static INSERT_ONE: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=UPSERT_COLUMNS).map(|i| format!("?{i}")).collect();
    format!("{}({})", UPSERT_HEAD.as_str(), placeholders.join(", "))
});

/// A stored call's row with `?n` placeholders, in the order of [`upsert_values`]: every
/// column but the keys, within the owner (the SQLite writer's, for calls it read a row
/// of in the same transaction). `tenant_id` is left alone: changing a column with a
/// foreign key would bring the statement journal back (see [`INSERT_ONE`]).
pub(super) static UPDATE_ONE: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = KEYS[2..]
        .iter()
        .chain(FOLDED)
        .copied()
        .chain([WRITTEN_AT])
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 3))
        .collect();
    format!(
        "UPDATE calls SET {} WHERE call_sid = ?1 AND tenant_id = ?2",
        set.join(", ")
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_has_one_placeholder_per_column() {
        let head = UPSERT_HEAD.as_str();
        let listed = head[head.find('(').unwrap_or(0)..].split(',').count();
        assert_eq!(listed, UPSERT_COLUMNS);
        assert!(UPSERT_TAIL.contains("from_number = excluded.from_number"));
        assert!(!UPSERT_TAIL.contains("call_sid = excluded"));
        assert!(!UPSERT_TAIL.contains("tenant_id = excluded.tenant_id,"));
        assert!(SELECT_COLUMNS.starts_with("call_sid, tenant_id, twilio_number, from_number"));
    }

    #[test]
    fn a_json_row_has_every_upserted_column_and_no_other() {
        let record = CallRecord {
            from: Some("+15550001111".into()),
            talk_seconds: 42,
            ..CallRecord::default()
        };
        let row = upsert_json("CA1", "t1", Some("+15550002222".into()), &record, 7);
        let keys: Vec<&str> = row
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut expected: Vec<&str> = UPSERT_COLUMN_LIST.split(", ").collect();
        let mut got = keys.clone();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected);
        assert_eq!(row["from_number"], "+15550001111");
        assert_eq!(row["talk_seconds"], 42);
        assert_eq!(row["twilio_number"], "+15550002222");
        assert_eq!(row["updated_at"], 7);
        assert!(row["caller_name"].is_null());
    }

    #[test]
    fn the_writers_insert_and_update_name_every_value_once() {
        let last = format!("?{UPSERT_COLUMNS}");
        assert!(
            INSERT_ONE.ends_with(&format!(", {last})")),
            "{}",
            *INSERT_ONE
        );
        assert!(!INSERT_ONE.contains("ON CONFLICT"));
        // The update sets every value but the two keys it matches on.
        assert!(UPDATE_ONE.starts_with("UPDATE calls SET twilio_number = ?3, from_number = ?4,"));
        assert!(UPDATE_ONE.contains(&format!("updated_at = {last} WHERE")));
        assert_eq!(UPDATE_ONE.matches(" = ?").count(), UPSERT_COLUMNS);
        assert!(!UPDATE_ONE.contains("tenant_id = ?3"));
    }
}
