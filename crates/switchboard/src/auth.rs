//! Logging in: sessions and the failed-login limiter. Owns `sessions`.
//!
//! A session token is 32 random bytes handed to the client once (as a bearer token
//! and in an HttpOnly cookie); only its SHA-256 is stored, so a database leak does
//! not leak live sessions. Sessions expire after the configured lifetime.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use sqlx::Row as _;

use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult};
use crate::users::{self, User};

/// A new session: the token to hand out, and when it expires.
#[derive(Debug)]
pub struct Session {
    /// The bearer token (never stored).
    pub token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Starts a session for `user_id`.
pub async fn create_session(db: &Db, user_id: &str, ttl: Duration) -> AppResult<Session> {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = now_ms();
    let expires_at = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(db.pool())
        .await?;
    Ok(Session { token, expires_at })
}

/// The user behind a live session token.
pub async fn resolve_session(db: &Db, token: &str) -> AppResult<Option<User>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let user_id: String = row.try_get("user_id")?;
    match users::get(db, &user_id).await {
        Ok(user) => Ok(Some(user)),
        Err(AppError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Ends one session.
pub async fn revoke_session(db: &Db, token: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends every session of a user (password change).
pub async fn revoke_all_sessions(db: &Db, user_id: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes expired sessions; returns how many.
pub async fn purge_expired(db: &Db) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Checks credentials and starts a session. Unknown emails cost the same argon2
/// work as wrong passwords, so response time does not reveal which emails exist.
pub async fn login(
    db: &Db,
    limiter: &LoginLimiter,
    email: &str,
    password: &str,
    peer: Option<IpAddr>,
    ttl: Duration,
) -> AppResult<(User, Session)> {
    let email_key = email.trim().to_lowercase();
    limiter.check(&email_key, peer)?;
    let found = users::find_by_email(db, &email_key).await?;
    let verified = match &found {
        Some((_, hash)) => users::verify_password(password, hash).await,
        None => {
            users::verify_password(password, dummy_hash()).await;
            false
        }
    };
    match found {
        Some((user, _)) if verified => {
            limiter.succeeded(&email_key);
            let session = create_session(db, &user.id, ttl).await?;
            Ok((user, session))
        }
        _ => {
            limiter.failed(&email_key, peer);
            Err(AppError::InvalidCredentials)
        }
    }
}

/// A valid argon2 hash of nothing in particular, to spend equal time on unknown users.
fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0eZ4q+Jq3FZ0mM2c7J7u6kq1wq6h0a2bq9cQ0pP3gxE"
}

/// Counts failed logins per email and per client address in a sliding window.
#[derive(Debug)]
pub struct LoginLimiter {
    per_email: usize,
    per_peer: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(5, 30, Duration::from_secs(15 * 60))
    }
}

impl LoginLimiter {
    /// `per_email` failures for one email, or `per_peer` from one address, within
    /// `window` block further attempts until the oldest failure leaves the window.
    pub fn new(per_email: usize, per_peer: usize, window: Duration) -> Self {
        Self {
            per_email,
            per_peer,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, peer: Option<IpAddr>) -> [Option<String>; 2] {
        [
            Some(format!("email:{email}")),
            peer.map(|ip| format!("peer:{ip}")),
        ]
    }

    fn check(&self, email: &str, peer: Option<IpAddr>) -> AppResult<()> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, limit) in Self::keys(email, peer)
            .into_iter()
            .zip([self.per_email, self.per_peer])
        {
            let Some(key) = key else { continue };
            if let Some(times) = map.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < self.window);
                if times.len() >= limit {
                    let oldest = times.first().copied().unwrap_or(now);
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    return Err(AppError::RateLimited {
                        retry_after_secs: wait.as_secs().max(1),
                    });
                }
            }
        }
        Ok(())
    }

    fn failed(&self, email: &str, peer: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a spray of random emails.
        if map.len() > 100_000 {
            map.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in Self::keys(email, peer).into_iter().flatten() {
            map.entry(key).or_default().push(now);
        }
    }

    fn succeeded(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("email:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_the_limit_and_forgets_on_success() {
        let l = LoginLimiter::new(2, 100, Duration::from_secs(60));
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(l.check("a@x.io", ip).is_ok());
        l.failed("a@x.io", ip);
        l.failed("a@x.io", ip);
        assert!(matches!(
            l.check("a@x.io", ip),
            Err(AppError::RateLimited { .. })
        ));
        assert!(
            l.check("b@x.io", ip).is_ok(),
            "other emails are not blocked by the email limit"
        );
        l.succeeded("a@x.io");
        assert!(l.check("a@x.io", ip).is_ok());
    }

    #[test]
    fn limiter_blocks_a_spraying_address() {
        let l = LoginLimiter::new(100, 3, Duration::from_secs(60));
        let ip = Some(IpAddr::from([10, 0, 0, 9]));
        for i in 0..3 {
            l.failed(&format!("u{i}@x.io"), ip);
        }
        assert!(matches!(
            l.check("new@x.io", ip),
            Err(AppError::RateLimited { .. })
        ));
        assert!(
            l.check("new@x.io", Some(IpAddr::from([10, 0, 0, 8])))
                .is_ok()
        );
    }

    #[test]
    fn window_expiry_unblocks() {
        let l = LoginLimiter::new(1, 100, Duration::from_millis(30));
        l.failed("a@x.io", None);
        assert!(l.check("a@x.io", None).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check("a@x.io", None).is_ok());
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(argon2::password_hash::phc::PasswordHash::new(dummy_hash()).is_ok());
    }
}
