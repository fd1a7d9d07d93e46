//! Short-lived caches of derived data on the webhook hot path.
//!
//! Which tenant owns a number, and a tenant's effective routing settings and webhook
//! token, are read on every call. They are cached for a few seconds and dropped
//! whenever this process changes numbers, telephony settings or tenants: those
//! modules' writes bump [`Db::routing_changed`], and [`RoutingCache::sync`] notices.
//! Another process sharing the PostgreSQL database sees a change within [`TTL`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::telephony::EffectiveSettings;

/// How long an entry is trusted.
pub const TTL: Duration = Duration::from_secs(5);

/// A map whose entries expire.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A live entry.
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Stores an entry (and, now and then, drops expired ones).
    pub fn insert(&self, key: K, value: V) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// What answering a tenant's call needs.
#[derive(Debug, Clone)]
pub struct TenantContext {
    /// Routing settings with platform defaults filled in.
    pub settings: EffectiveSettings,
    /// The auth token that signs this tenant's webhooks.
    pub webhook_token: Option<String>,
}

/// The hot-path caches.
#[derive(Debug)]
pub struct RoutingCache {
    /// E.164 → owning tenant (or none: unrouted numbers are cached too).
    pub number_owner: TtlCache<String, Option<String>>,
    /// Tenant → its context.
    pub tenant: TtlCache<String, Arc<TenantContext>>,
    /// The routing epoch the entries were read at.
    epoch: std::sync::atomic::AtomicU64,
}

impl Default for RoutingCache {
    fn default() -> Self {
        Self {
            number_owner: TtlCache::new(TTL),
            tenant: TtlCache::new(TTL),
            epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl RoutingCache {
    /// Drops everything when routing data changed since the entries were read; call
    /// before reading from the cache.
    pub fn sync(&self, db: &Db) {
        let now = db.routing_epoch();
        if self.epoch.swap(now, std::sync::atomic::Ordering::AcqRel) != now {
            self.number_owner.clear();
            self.tenant.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let c: TtlCache<&str, i32> = TtlCache::new(Duration::from_millis(30));
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"a"), None);
        c.insert("b", 2);
        c.clear();
        assert_eq!(c.get(&"b"), None);
    }
}
