//! Password hashing with argon2id, bounded so a burst of logins cannot exhaust memory.
//!
//! Every hash costs about 19 MiB of working memory (argon2's default `m=19456`). Two
//! things keep a burst from turning that into gigabytes:
//!
//! - at most one hash per core runs at once, a short queue waits behind them, and
//!   anything past the queue is refused at once with 503 and `Retry-After`;
//! - the working memory is one allocation we make ourselves, reserved at 32 MiB or
//!   more. glibc serves requests that large with a mapping of their own and unmaps it
//!   on free, whatever its adaptive threshold has learnt; argon2's own 19 MiB
//!   allocation would instead stay cached in the arena of whichever blocking thread ran
//!   it (200 concurrent logins left 3.9 GiB resident). Only the pages argon2 touches
//!   become resident, so a hash still costs 19 MiB while it runs and nothing after.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{AppError, AppResult};

/// Reserved blocks (1 KiB each) per hash: just over glibc's largest adaptive mmap
/// threshold (32 MiB on 64-bit), so the buffer is always its own mapping.
const RESERVED_BLOCKS: usize = 32 * 1024 + 1;

/// Requests that may wait for a hashing slot, per slot.
const QUEUE_PER_SLOT: usize = 16;

/// What a request that finds no room is told: come back in a couple of seconds.
const BUSY: AppError = AppError::Busy {
    retry_after_secs: 2,
};

/// How long a request waits for a slot before it is told to come back.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The process-wide bound: memory is the process's, whoever asks for a hash.
static HASHER: LazyLock<Hasher> = LazyLock::new(|| {
    let slots = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    Hasher::new(slots, slots * QUEUE_PER_SLOT)
});

/// Bounds the hashes running and waiting.
struct Hasher {
    slots: tokio::sync::Semaphore,
    admitted: AtomicUsize,
    max_admitted: usize,
}

/// Gives back an admission when the request is done (or dropped by a closed client).
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hasher {
    fn new(slots: usize, queue: usize) -> Self {
        Self {
            slots: tokio::sync::Semaphore::new(slots),
            admitted: AtomicUsize::new(0),
            max_admitted: slots + queue,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.max_admitted {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("password hashing queue full; request refused");
            return Err(BUSY);
        }
        let _admission = Admission(&self.admitted);
        let _slot = tokio::time::timeout(MAX_WAIT, self.slots.acquire())
            .await
            .map_err(|_| BUSY)?
            .map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AppError::internal)
    }
}

/// Argon2 over `password` and `salt` into `out`, with working memory that is returned
/// to the system when done (see the module's notes).
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let needed = params.block_count();
    let mut blocks: Vec<Block> = Vec::new();
    blocks
        .try_reserve_exact(needed.max(RESERVED_BLOCKS))
        .map_err(|_| argon2::Error::OutOfMemory)?;
    blocks.resize(needed, Block::default());
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        out,
        &mut blocks[..],
    )
}

fn hash_now(password: &str) -> AppResult<String> {
    use rand::RngCore as _;
    let params = Params::default();
    let mut salt_bytes = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = Salt::new(&salt_bytes).map_err(|e| AppError::Internal(e.to_string().into()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password.as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(|e| AppError::Internal(e.to_string().into()))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| AppError::Internal(e.to_string().into()))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| AppError::Internal(e.to_string().into()))?),
    };
    Ok(hash.to_string())
}

fn verify_now(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2_into(
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt,
        &mut out,
    )
    .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Hashes a password with argon2id (default parameters) in a bounded slot.
pub async fn hash(password: &str) -> AppResult<String> {
    let password = password.to_owned();
    HASHER.run(move || hash_now(&password)).await?
}

/// Checks a password against a stored PHC hash in a bounded slot. `Err(Busy)` when
/// too many are already waiting.
pub async fn verify(password: &str, stored: &str) -> AppResult<bool> {
    let password = password.to_owned();
    let stored = stored.to_owned();
    HASHER.run(move || verify_now(&password, &stored)).await
}

/// A valid argon2id hash (default parameters) of nothing in particular: unknown emails
/// are checked against it, so they cost the same time as wrong passwords.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0eZ4q+Jq3FZ0mM2c7J7u6kq1wq6h0a2bq9cQ0pP3gxE"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_match_the_library() {
        let h = hash("correct horse battery").await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &h).await.expect("verify"));
        assert!(!verify("correct horse batterz", &h).await.expect("verify"));
        // A hash made by the library's own path verifies here, and ours there.
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let theirs = Argon2::default()
            .hash_password(b"another one")
            .expect("library hash")
            .to_string();
        assert!(verify_now("another one", &theirs));
        let parsed = PasswordHash::new(&h).expect("parses");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn garbage_hashes_never_verify() {
        for stored in ["", "plain", "$argon2id$v=19$m=8,t=1,p=1$", "$md5$x$y"] {
            assert!(!verify_now("x", stored), "{stored}");
        }
        assert!(PasswordHash::new(dummy_hash()).is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_not_grown() {
        let hasher = std::sync::Arc::new(Hasher::new(1, 1));
        let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (h1, g1) = (hasher.clone(), gate.clone());
        let running = tokio::spawn(async move {
            h1.run(move || {
                g1.wait();
            })
            .await
        });
        // Let the first take the slot, then queue one more.
        while hasher.admitted.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        let h2 = hasher.clone();
        let queued = tokio::spawn(async move { h2.run(|| ()).await });
        while hasher.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = hasher.run(|| ()).await;
        assert!(matches!(refused, Err(AppError::Busy { .. })));
        gate.wait();
        assert!(running.await.expect("join").is_ok());
        assert!(queued.await.expect("join").is_ok());
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
    }
}
