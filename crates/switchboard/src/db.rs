//! The database: one `AnyPool` over SQLite (the embedded default) or PostgreSQL.
//!
//! The backend is chosen once from the URL's scheme; anything else is refused
//! rather than silently creating a new SQLite file. Each backend has its own
//! migrations folder, applied at start. Domain modules own their tables and write
//! SQL that runs on both: `$n` placeholders, times as unix milliseconds (`i64`),
//! flags as 0/1 integers, ids and JSON as text.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file in the data directory.
    Sqlite,
    /// PostgreSQL, shared by any number of `serve` processes.
    Postgres,
}

/// The database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names a database we do not support.
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A background checkpoint failed (the log stays; the next one tries again).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// SQLite refused.
    #[error("checkpoint failed: {0}")]
    Sql(#[from] sqlx::Error),
    /// Syncing the copied pages failed.
    #[error("syncing the database files failed: {0}")]
    Sync(#[from] std::io::Error),
}

/// A backup could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// PostgreSQL has its own tools.
    #[error("the database is PostgreSQL: back it up with pg_dump or pg_basebackup")]
    NotSqlite,
    /// The target is already there.
    #[error("{0} exists; choose a new file name")]
    Exists(String),
    /// SQLite names files in UTF-8 here.
    #[error("the backup path must be valid UTF-8")]
    PathNotUtf8,
    /// SQLite could not copy.
    #[error("copying the database failed: {0}")]
    Copy(#[source] sqlx::Error),
    /// The file system failed.
    #[error("writing the backup failed: {0}")]
    Io(#[source] std::io::Error),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file, when SQLite on a file.
    file: Option<std::path::PathBuf>,
    /// The SQLite file's write-ahead log, when SQLite.
    wal_path: Option<std::path::PathBuf>,
    /// Bumped by every write that changes how calls are routed (numbers, settings,
    /// tenants), so caches of routing data know they are stale.
    routing_epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Every SQLite connection's settings. Checkpoints run between the event writer's
/// batches and in the background (`Db::checkpoint`), not inside a committing request;
/// a log that a burst made larger than 64 MB is cut back to that once it is rewound.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;";

/// Every PostgreSQL connection's settings. sqlx prepares each statement once per
/// connection, and after five runs PostgreSQL may keep a generic plan for it, made for
/// the table as it was then: on a new database, a plan for an empty `calls` table (a
/// sequential scan for `call_sid IN (…)`) stayed while the table grew, and every batch
/// of the event writer scanned all of it until an autoanalyze came by (a minute or
/// more). Each run is planned for its own values and the table as it is instead; the
/// planning costs tens of microseconds.
const POSTGRES_SESSION: &str = "SET plan_cache_mode = force_custom_plan";

impl Db {
    /// Opens (creating the SQLite file and its directory if needed) and migrates.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(url)?;
        }
        let options = AnyConnectOptions::from_str(url).map_err(DbError::Connect)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    // SQLite writes one at a time; a few connections serve reads in WAL mode.
                    .max_connections(8)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    // A local file does not go stale: no ping on every checkout.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(POSTGRES_SESSION).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
        }
        .map_err(DbError::Connect)?;
        let file = (backend == Backend::Sqlite)
            .then(|| sqlite_path(url))
            .flatten()
            .map(std::path::PathBuf::from);
        let wal_path = file
            .as_ref()
            .map(|p| std::path::PathBuf::from(format!("{}-wal", p.display())));
        let db = Self {
            pool,
            backend,
            file,
            wal_path,
            routing_epoch: std::sync::Arc::default(),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Says that routing data (numbers, telephony settings, tenants) changed: the write
    /// functions of those modules call it after they commit.
    pub fn routing_changed(&self) {
        self.routing_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many routing changes this process has made.
    pub fn routing_epoch(&self) -> u64 {
        self.routing_epoch
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// The pool, for domain modules' queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting out `busy_timeout` while the event writer commits):
    /// a deferred transaction that reads first and writes later fails outright, busy,
    /// when another connection commits in between.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection of its own to the SQLite file, set up as the pool's are, for the
    /// event writer's thread (`None` on PostgreSQL or without a file). The hot write
    /// path only: everything else goes through the pool.
    pub fn open_writer_connection(&self) -> Result<Option<rusqlite::Connection>, rusqlite::Error> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let conn = rusqlite::Connection::open_with_flags(
            file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(SQLITE_PRAGMAS)?;
        // Enough for every statement the writer prepares.
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Some(conn))
    }

    /// Copies the SQLite write-ahead log into the database without blocking writers
    /// (PASSIVE), off the request path; `true` when it ran (SQLite on a file).
    ///
    /// Beside a busy event writer a checkpoint seldom copies the whole log (commits land
    /// while it copies), and only the event writer can finish it (see
    /// `EventWriter::log_copied`). SQLite syncs the database file only at the end of a
    /// checkpoint that copied everything, so the pages copied here would wait, unsynced,
    /// for the writer's finishing checkpoint, whose sync of them was most of its pause.
    /// They are synced here instead, with the log written meanwhile, and a second
    /// checkpoint takes the frames that landed during the first: the writer is left a
    /// few frames and two short syncs, or nothing at all. (What a PASSIVE checkpoint
    /// reports cannot tell: its figures are of the log as it was when it began.)
    pub async fn checkpoint(&self) -> Result<bool, CheckpointError> {
        let (Backend::Sqlite, Some(file), Some(wal)) = (self.backend, &self.file, &self.wal_path)
        else {
            return Ok(false);
        };
        self.passive_checkpoint().await?;
        let (file, wal) = (file.clone(), wal.clone());
        tokio::task::spawn_blocking(move || {
            // fsync needs no write access; sync_data skips the times SQLite ignores.
            std::fs::File::open(file)?.sync_data()?;
            std::fs::File::open(wal)?.sync_data()
        })
        .await
        .map_err(|e| CheckpointError::Sync(std::io::Error::other(e)))??;
        self.passive_checkpoint().await?;
        Ok(true)
    }

    /// One PASSIVE checkpoint through the pool.
    async fn passive_checkpoint(&self) -> Result<(), sqlx::Error> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// When the SQLite write-ahead log was last written (`None` on PostgreSQL).
    pub fn wal_modified(&self) -> Option<std::time::SystemTime> {
        self.wal_path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .and_then(|m| m.modified().ok())
    }

    /// Placeholders `first..first+count` for a generated statement whose parameters
    /// appear once each, in ascending order. Every placeholder of such a statement must
    /// come from here: sqlx numbers plain `?` from 1 regardless of any `$n` before them. PostgreSQL gets `$n`; SQLite gets plain
    /// `?`, because sqlx resolves every named parameter through a lookup that is linear
    /// in the statement's parameter count (quadratic for a multi-row insert).
    pub fn placeholders(&self, first: usize, count: usize) -> String {
        match self.backend {
            Backend::Sqlite => vec!["?"; count].join(", "),
            Backend::Postgres => (first..first + count)
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Writes a consistent copy of the SQLite database to `target` while it serves
    /// (`VACUUM INTO`: one read transaction, so the copy holds every transaction that
    /// committed before it began and none after). The copy is written beside `target`
    /// and renamed into place, so `target` never holds half a backup. Refuses to
    /// overwrite. Returns the copy's size in bytes.
    pub async fn backup(&self, target: &std::path::Path) -> Result<u64, BackupError> {
        if self.backend != Backend::Sqlite {
            return Err(BackupError::NotSqlite);
        }
        if target.exists() {
            return Err(BackupError::Exists(target.display().to_string()));
        }
        let partial = {
            let mut name = target.as_os_str().to_owned();
            name.push(".partial");
            std::path::PathBuf::from(name)
        };
        let _ = std::fs::remove_file(&partial);
        let quoted = partial
            .to_str()
            .ok_or(BackupError::PathNotUtf8)?
            .replace('\'', "''");
        sqlx::query(&format!("VACUUM INTO '{quoted}'"))
            .execute(&self.pool)
            .await
            .map_err(BackupError::Copy)?;
        std::fs::rename(&partial, target).map_err(BackupError::Io)?;
        Ok(std::fs::metadata(target).map_err(BackupError::Io)?.len())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool (waits for connections to return).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file a `sqlite:` URL names, if any.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

fn ensure_sqlite_dir(url: &str) -> Result<(), DbError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        crate::files::create_private_dir(parent).map_err(|source| DbError::DataDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    // Made by us so that it (and the WAL files SQLite makes beside it) is 0600.
    crate::files::create_private_file(std::path::Path::new(path)).map_err(|source| {
        DbError::DataDir {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(())
}

/// The tenant that owns row `id` of a tenant-owned `table` (one with `id` and
/// `tenant_id`). Only the table's owning module calls this, with its own table's name.
pub async fn row_tenant(
    db: &Db,
    table: &'static str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    use sqlx::Row as _;
    let row = sqlx::query(&format!("SELECT tenant_id FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("tenant_id")).transpose()
}

/// Deletes row `id` of a tenant-owned `table` when it is `tenant_id`'s; returns whether
/// there was one (another tenant's row is never touched).
pub async fn delete_tenant_row(
    db: &Db,
    table: &'static str,
    tenant_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Milliseconds since the Unix epoch, the time format in every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// RFC 3339 UTC text for a stored time, always with milliseconds so that the text
/// sorts like the time.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A new random id with a readable prefix (`ten_…`, `usr_…`).
pub fn new_id(prefix: &str) -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    id.push('_');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_000_000_123), "2025-11-24T16:00:00.123Z");
        assert_eq!(rfc3339(1_764_000_000_100), "2025-11-24T16:00:00.100Z");
        assert!(
            rfc3339(1_764_000_000_100) < rfc3339(1_764_000_000_123),
            "text sorts like time"
        );
    }

    /// A SQLite database in a folder of its own, migrated up to (not including)
    /// migration `before`, with a tenant `t1`.
    async fn sqlite_migrated_before(before: &str) -> (sqlx::AnyPool, std::path::PathBuf) {
        sqlx::any::install_default_drivers();
        let dir = std::env::temp_dir().join(new_id("sb-migrate"));
        let earlier = dir.join("migrations");
        std::fs::create_dir_all(&earlier).expect("folder");
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&source).expect("migrations") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name < before {
                std::fs::copy(&path, earlier.join(name)).expect("copy");
            }
        }
        let url = format!("sqlite://{}/old.db?mode=rwc", dir.display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("pool");
        let migrator = sqlx::migrate::Migrator::new(earlier.as_path())
            .await
            .expect("earlier migrations");
        migrator.run(&pool).await.expect("earlier migrations ran");
        sqlx::query("INSERT INTO tenants (id, name, timezone, created_at, updated_at) VALUES ('t1', 'T', 'UTC', 0, 0)")
            .execute(&pool)
            .await
            .expect("tenant");
        (pool, dir)
    }

    /// Migration 0027 rebuilds `call_rollups` with a shard in its key: the figures from
    /// before it stay, in shard 0, and a key may then hold a row in each shard.
    #[tokio::test]
    async fn sharding_the_rollups_keeps_their_figures() {
        let (pool, dir) = sqlite_migrated_before("0027").await;
        sqlx::query(
            "INSERT INTO call_rollups (tenant_id, day, twilio_number, direction, outcome, menu_choice, calls, talk_seconds, booked)
             VALUES ('t1', 20000, '+15550001111', 'inbound', 'answered', '1', 5, 60, 1)",
        )
        .execute(&pool)
        .await
        .expect("a rollup before 0027");
        SQLITE_MIGRATIONS.run(&pool).await.expect("migrated");
        let in_shard_3 = |calls: i64| {
            sqlx::query(
                "INSERT INTO call_rollups (tenant_id, day, twilio_number, direction, outcome, menu_choice, calls, talk_seconds, booked, shard)
                 VALUES ('t1', 20000, '+15550001111', 'inbound', 'answered', '1', $1, 60, 1, 3)",
            )
            .bind(calls)
            .execute(&pool)
        };
        in_shard_3(2).await.expect("the same key in another shard");
        let (rows, calls, shard0): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), SUM(calls), SUM(CASE WHEN shard = 0 THEN calls ELSE 0 END) FROM call_rollups",
        )
        .fetch_one(&pool)
        .await
        .expect("rollups");
        assert_eq!((rows, calls, shard0), (2, 7, 5));
        assert!(in_shard_3(1).await.is_err(), "one row a key and shard");
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Migration 0025 rebuilds `call_events`: a database with events from before it keeps
    /// them, their ids and the id counter, and dedupes by call and key after it.
    #[tokio::test]
    async fn rebuilding_the_events_table_keeps_events_ids_and_counter() {
        let (pool, dir) = sqlite_migrated_before("0025").await;
        let run = |sql: &'static str| sqlx::query(sql).execute(&pool);
        for i in 1..=3 {
            sqlx::query(
                "INSERT INTO call_events (tenant_id, call_sid, kind, dedupe_key, payload, received_at)
                 VALUES ('t1', $1, 'incoming', $2, '[]', $3)",
            )
            .bind(format!("CA{}", i % 2))
            .bind(format!("key{i}"))
            .bind(i)
            .execute(&pool)
            .await
            .expect("event");
        }
        run("DELETE FROM call_events WHERE id = 3")
            .await
            .expect("delete");
        SQLITE_MIGRATIONS.run(&pool).await.expect("migrated");
        let kept: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, call_sid, dedupe_key FROM call_events ORDER BY id")
                .fetch_all(&pool)
                .await
                .expect("events");
        assert_eq!(
            kept,
            vec![
                (1, "CA1".to_owned(), "key1".to_owned()),
                (2, "CA0".to_owned(), "key2".to_owned())
            ]
        );
        let append = |sid: &'static str, key: &'static str| {
            sqlx::query(
                "INSERT INTO call_events (tenant_id, call_sid, kind, dedupe_key, payload, received_at)
                 VALUES ('t1', $1, 'incoming', $2, '[]', 9) ON CONFLICT (call_sid, dedupe_key) DO NOTHING",
            )
            .bind(sid)
            .bind(key)
            .execute(&pool)
        };
        // A new event first: it takes the next id the counter hands out.
        assert_eq!(append("CA1", "key4").await.expect("new").rows_affected(), 1);
        assert_eq!(
            append("CA1", "key1")
                .await
                .expect("duplicate")
                .rows_affected(),
            0
        );
        let newest: i64 =
            sqlx::query_scalar("SELECT id FROM call_events WHERE dedupe_key = 'key4'")
                .fetch_one(&pool)
                .await
                .expect("newest");
        assert!(
            newest > 3,
            "the deleted event's id was handed out again: {newest}"
        );
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn placeholders_per_backend() {
        let fake = |backend| Db {
            pool: sqlx::any::AnyPoolOptions::new()
                .connect_lazy("sqlite::memory:")
                .unwrap_or_else(|_| unreachable!()),
            backend,
            file: None,
            wal_path: None,
            routing_epoch: std::sync::Arc::default(),
        };
        sqlx::any::install_default_drivers();
        assert_eq!(fake(Backend::Postgres).placeholders(4, 3), "$4, $5, $6");
        assert_eq!(fake(Backend::Sqlite).placeholders(4, 3), "?, ?, ?");
    }

    #[test]
    fn ids_are_prefixed_and_unique() {
        let a = new_id("ten");
        assert!(a.starts_with("ten_") && a.len() == 28);
        assert_ne!(a, new_id("ten"));
    }
}
