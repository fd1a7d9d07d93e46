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

/// Changes a user; a changed password ends all of their sessions, so whoever knew the
/// old one is signed out everywhere.
pub async fn update_user(db: &Db, id: &str, update: users::UserUpdate) -> AppResult<User> {
    let password_changed = update.password.is_some();
    let user = users::update(db, id, update).await?;
    if password_changed {
        revoke_all_sessions(db, id).await?;
    }
    Ok(user)
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
/// The attempt is counted before the password is checked, so parallel guesses cannot
/// all slip past the limit.
pub async fn login(
    db: &Db,
    limiter: &LoginLimiter,
    email: &str,
    password: &str,
    peer: Option<IpAddr>,
    ttl: Duration,
) -> AppResult<(User, Session)> {
    let email_key = email.trim().to_lowercase();
    let attempt = limiter.begin(&email_key, peer)?;
    let checked = async {
        let found = users::find_by_email(db, &email_key).await?;
        let verified = match &found {
            Some((_, hash)) => users::verify_password(password, hash).await?,
            None => {
                users::verify_password(password, crate::passwords::dummy_hash()).await?;
                false
            }
        };
        Ok::<_, AppError>(found.filter(|_| verified).map(|(user, _)| user))
    }
    .await;
    match checked {
        Ok(Some(user)) => {
            limiter.succeeded(&attempt);
            let session = create_session(db, &user.id, ttl).await?;
            Ok((user, session))
        }
        // A wrong password or unknown email: the attempt stays counted.
        Ok(None) => Err(AppError::InvalidCredentials),
        // Nothing was checked (busy, database down): it does not count against anyone.
        Err(e) => {
            limiter.release(&attempt);
            Err(e)
        }
    }
}

/// The client's address: the connection's peer, or, when the service runs behind a
/// reverse proxy and `SWITCHBOARD_TRUSTED_PROXY_HEADER` names the header that proxy
/// sets, the address in that header (for `X-Forwarded-For`, the last entry: the one the
/// proxy itself appended). Without that setting, forwarding headers are ignored, since
/// any client can send them.
pub fn client_address(
    trusted_header: Option<&str>,
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    let Some(name) = trusted_header else {
        return peer;
    };
    let from_header = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| parse_forwarded_ip(part.trim()))
        .next_back();
    from_header.or(peer)
}

/// One address as proxies write it: `203.0.113.7`, `203.0.113.7:5555`, `[2001:db8::1]:80`
/// or `2001:db8::1`.
fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

/// Failed logins, counted per (account, client address) and per client address, in a
/// sliding window. Past the free attempts each further one must wait twice as long as
/// the last (1 s, 2 s, 4 s, … up to the window), counted from the latest failure. An
/// account is never locked as such: failures from one address never slow the
/// account's owner down at another.
#[derive(Debug)]
pub struct LoginLimiter {
    free_per_account_and_client: usize,
    free_per_client: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// A counted login attempt, until it is known to have succeeded.
#[derive(Debug)]
pub struct Attempt {
    keys: [String; 2],
    at: Instant,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(5, 30, Duration::from_secs(15 * 60))
    }
}

impl LoginLimiter {
    /// `free_per_account_and_client` failures for one email from one address, and
    /// `free_per_client` from one address for any email, pass without delay within
    /// `window`.
    pub fn new(
        free_per_account_and_client: usize,
        free_per_client: usize,
        window: Duration,
    ) -> Self {
        Self {
            free_per_account_and_client,
            free_per_client,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, peer: Option<IpAddr>) -> [String; 2] {
        let client = peer.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        [
            format!("account:{email}|{client}"),
            format!("client:{client}"),
        ]
    }

    /// How long the next attempt must still wait after `n` counted failures, the
    /// latest at `last`.
    fn wait(&self, n: usize, free: usize, last: Instant, now: Instant) -> Option<Duration> {
        if n < free {
            return None;
        }
        let doublings = u32::try_from(n - free).unwrap_or(u32::MAX).min(20);
        let delay = Duration::from_secs(1u64 << doublings).min(self.window);
        let ready = last + delay;
        (ready > now).then(|| ready - now)
    }

    /// Counts an attempt, or refuses it with the time left to wait. Check and count
    /// happen under one lock.
    pub fn begin(&self, email: &str, peer: Option<IpAddr>) -> AppResult<Attempt> {
        let now = Instant::now();
        let keys = Self::keys(email, peer);
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a spray of random emails.
            map.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let mut longest: Option<Duration> = None;
        for (key, free) in keys
            .iter()
            .zip([self.free_per_account_and_client, self.free_per_client])
        {
            if let Some(times) = map.get_mut(key) {
                times.retain(|t| now.duration_since(*t) < self.window);
                if let Some(&last) = times.last()
                    && let Some(w) = self.wait(times.len(), free, last, now)
                {
                    longest = Some(longest.map_or(w, |l| l.max(w)));
                }
            }
        }
        if let Some(wait) = longest {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(AppError::RateLimited {
                retry_after_secs: secs.max(1),
            });
        }
        for key in &keys {
            map.entry(key.clone()).or_default().push(now);
        }
        Ok(Attempt { keys, at: now })
    }

    /// The attempt succeeded: the account's failures from this client are forgiven,
    /// and the attempt no longer counts against the client.
    pub fn succeeded(&self, attempt: &Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&attempt.keys[0]);
        Self::forget(&mut map, &attempt.keys[1], attempt.at);
    }

    /// The attempt was never judged (the service was busy): it counts for nobody.
    pub fn release(&self, attempt: &Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in &attempt.keys {
            Self::forget(&mut map, key, attempt.at);
        }
    }

    fn forget(map: &mut HashMap<String, Vec<Instant>>, key: &str, at: Instant) {
        if let Some(times) = map.get_mut(key) {
            if let Some(i) = times.iter().position(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    fn limited(r: AppResult<Attempt>) -> bool {
        matches!(r, Err(AppError::RateLimited { .. }))
    }

    #[test]
    fn attempts_count_before_they_are_judged() {
        let l = LoginLimiter::new(3, 100, Duration::from_secs(60));
        // Three attempts in flight at once use the free ones; the fourth waits.
        let _a: Vec<Attempt> = (0..3)
            .map(|_| l.begin("a@x.io", ip(1)).expect("free"))
            .collect();
        assert!(limited(l.begin("a@x.io", ip(1))));
    }

    #[test]
    fn another_address_is_not_slowed_by_someone_elses_failures() {
        let l = LoginLimiter::new(2, 100, Duration::from_secs(60));
        for _ in 0..2 {
            l.begin("admin@x.io", ip(1)).expect("free");
        }
        assert!(limited(l.begin("admin@x.io", ip(1))));
        assert!(l.begin("admin@x.io", ip(2)).is_ok(), "the owner elsewhere");
        assert!(l.begin("other@x.io", ip(1)).is_ok(), "another account");
    }

    #[test]
    fn success_forgives_and_release_uncounts() {
        let l = LoginLimiter::new(2, 100, Duration::from_secs(60));
        l.begin("a@x.io", ip(1)).expect("free");
        let ok = l.begin("a@x.io", ip(1)).expect("free");
        l.succeeded(&ok);
        for _ in 0..2 {
            let a = l.begin("a@x.io", ip(1)).expect("forgiven");
            l.release(&a);
        }
        assert!(l.begin("a@x.io", ip(1)).is_ok());
    }

    #[test]
    fn a_spraying_address_is_slowed_for_every_account() {
        let l = LoginLimiter::new(100, 3, Duration::from_secs(60));
        for i in 0..3 {
            l.begin(&format!("u{i}@x.io"), ip(9)).expect("free");
        }
        assert!(limited(l.begin("new@x.io", ip(9))));
        assert!(l.begin("new@x.io", ip(8)).is_ok());
    }

    #[test]
    fn the_wait_doubles_and_is_capped() {
        let l = LoginLimiter::new(2, 100, Duration::from_secs(900));
        let t0 = Instant::now();
        assert_eq!(l.wait(1, 2, t0, t0), None);
        assert_eq!(l.wait(2, 2, t0, t0), Some(Duration::from_secs(1)));
        assert_eq!(l.wait(5, 2, t0, t0), Some(Duration::from_secs(8)));
        assert_eq!(l.wait(60, 2, t0, t0), Some(Duration::from_secs(900)));
        assert_eq!(l.wait(2, 2, t0, t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn window_expiry_unblocks() {
        let l = LoginLimiter::new(1, 100, Duration::from_millis(30));
        l.begin("a@x.io", None).expect("free");
        assert!(l.begin("a@x.io", None).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.begin("a@x.io", None).is_ok());
    }

    #[test]
    fn client_address_trusts_only_the_configured_header() {
        use axum::http::{HeaderMap, HeaderValue};
        let peer = Some(IpAddr::from([127, 0, 0, 1]));
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 198.51.100.7"),
        );
        assert_eq!(client_address(None, &h, peer), peer, "ignored by default");
        assert_eq!(
            client_address(Some("x-forwarded-for"), &h, peer),
            Some(IpAddr::from([198, 51, 100, 7])),
            "the entry the proxy appended"
        );
        h.insert("x-real-ip", HeaderValue::from_static("[2001:db8::1]:443"));
        assert_eq!(
            client_address(Some("x-real-ip"), &h, peer),
            "2001:db8::1".parse().ok()
        );
        h.insert("x-real-ip", HeaderValue::from_static("garbage"));
        assert_eq!(client_address(Some("x-real-ip"), &h, peer), peer);
    }
}
