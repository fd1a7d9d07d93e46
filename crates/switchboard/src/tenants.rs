//! Tenants: the businesses Switchboard serves. Owns the `tenants` table.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms, rfc3339};
use crate::error::{AppError, AppResult, FieldErrors};

/// A tenant's id, `ten_` and 24 hex digits. Only parsing what a client sent, or reading
/// a stored row, makes one, so a value of this type has at least the right shape (and,
/// from [`crate::access`], names a tenant the request may touch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id from a client, when it has the shape of one.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("ten_")?;
        (hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
    }

    /// A tenant id read from the database (a user's tenant, a call's owner).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The id as text, for queries.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for TenantId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Which tenants a request may read: one, or (admins, where a route allows it) all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// One tenant.
    One(TenantId),
    /// Every tenant.
    All,
}

/// A tenant as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// `ten_…`.
    pub id: String,
    /// Business name, spoken in the default menu.
    pub name: String,
    /// IANA time zone used for business hours and daily figures.
    pub timezone: String,
    /// none | trialing | active | past_due | canceled.
    pub subscription_status: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Creating a tenant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Business name.
    pub name: String,
    /// IANA time zone (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Changing a tenant.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantUpdate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New time zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// New subscription status.
    #[serde(default)]
    pub subscription_status: Option<String>,
}

/// The subscription states a tenant can be in.
pub const SUBSCRIPTION_STATUSES: &[&str] = &["none", "trialing", "active", "past_due", "canceled"];

const MAX_NAME: usize = 120;

fn check_name(name: &str, errors: &mut FieldErrors) -> String {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        errors.insert("name".into(), "is required".into());
    } else if trimmed.chars().count() > MAX_NAME {
        errors.insert(
            "name".into(),
            format!("must be at most {MAX_NAME} characters"),
        );
    }
    trimmed.to_owned()
}

/// A light check of an IANA zone name (`Area/City`, `UTC`); the full database is not
/// compiled in, so `Europe/Atlantis` passes and `<script>` does not.
pub fn check_timezone(tz: &str, errors: &mut FieldErrors) -> String {
    let tz = tz.trim();
    let shape_ok = !tz.is_empty()
        && tz.len() <= 64
        && tz
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        && tz.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    if !shape_ok {
        errors.insert(
            "timezone".into(),
            "must be an IANA time zone such as America/New_York".into(),
        );
    }
    tz.to_owned()
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        timezone: row.try_get("timezone")?,
        subscription_status: row.try_get("subscription_status")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// Creates a tenant.
pub async fn create(db: &Db, new: NewTenant) -> AppResult<Tenant> {
    let mut errors = FieldErrors::new();
    let name = check_name(&new.name, &mut errors);
    let timezone = check_timezone(new.timezone.as_deref().unwrap_or("UTC"), &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let id = new_id("ten");
    let now = now_ms();
    sqlx::query("INSERT INTO tenants (id, name, timezone, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(&id)
        .bind(&name)
        .bind(&timezone)
        .bind(now)
        .execute(db.pool())
        .await?;
    get(db, &id).await
}

/// Every tenant, by name.
pub async fn list(db: &Db) -> AppResult<Vec<Tenant>> {
    let rows = sqlx::query(
        "SELECT id, name, timezone, subscription_status, created_at, updated_at FROM tenants ORDER BY name, id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// One tenant, or `NotFound`.
pub async fn get(db: &Db, id: &str) -> AppResult<Tenant> {
    let row =
        sqlx::query("SELECT id, name, timezone, subscription_status, created_at, updated_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?
            .ok_or(AppError::NotFound)?;
    Ok(from_row(&row)?)
}

/// Whether a tenant exists.
pub async fn exists(db: &Db, id: &str) -> AppResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Changes a tenant's name or time zone.
pub async fn update(db: &Db, id: &str, update: TenantUpdate) -> AppResult<Tenant> {
    let current = get(db, id).await?;
    let mut errors = FieldErrors::new();
    let name = match &update.name {
        Some(n) => check_name(n, &mut errors),
        None => current.name,
    };
    let timezone = match &update.timezone {
        Some(tz) => check_timezone(tz, &mut errors),
        None => current.timezone,
    };
    let subscription = match update.subscription_status.as_deref().map(str::trim) {
        Some(s) if SUBSCRIPTION_STATUSES.contains(&s) => s.to_owned(),
        Some(_) => {
            errors.insert(
                "subscriptionStatus".into(),
                format!("must be one of {}", SUBSCRIPTION_STATUSES.join(", ")),
            );
            String::new()
        }
        None => current.subscription_status,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    sqlx::query("UPDATE tenants SET name = $1, timezone = $2, subscription_status = $3, updated_at = $4 WHERE id = $5")
        .bind(&name)
        .bind(&timezone)
        .bind(&subscription)
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    db.routing_changed();
    get(db, id).await
}

/// Deletes a tenant and, by cascade, everything it owns.
pub async fn delete(db: &Db, id: &str) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    db.routing_changed();
    Ok(())
}

#[cfg(test)]
mod tenant_id_tests {
    use super::*;

    #[test]
    fn only_well_formed_ids_parse() {
        let id = new_id("ten");
        assert_eq!(TenantId::parse(&id).map(|t| t.to_string()), Some(id));
        for bad in [
            "",
            "ten_",
            "usr_0123456789abcdef01234567",
            "ten_0123456789abcdef0123456z",
            "ten_0123",
        ] {
            assert!(TenantId::parse(bad).is_none(), "{bad}");
        }
    }
}
