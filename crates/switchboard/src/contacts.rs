//! A tenant's contacts. Owns `contacts`. A call is linked to the contact whose number
//! is the caller's (see `calls`, which joins when it reads), so a contact added later
//! links to its earlier calls too.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms, rfc3339};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::numbers::E164;

/// A contact as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// `con_…`.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// E.164.
    pub phone: String,
    /// Email.
    pub email: Option<String>,
    /// Free text.
    pub notes: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// Creating a contact.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewContact {
    /// Name.
    pub name: String,
    /// Any common spelling; stored as E.164.
    pub phone: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
    /// Admins only: the tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Contact, sqlx::Error> {
    Ok(Contact {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        phone: r.try_get("phone")?,
        email: r.try_get("email")?,
        notes: r.try_get("notes")?,
        created_at: rfc3339(r.try_get("created_at")?),
    })
}

/// A contact's fields, checked and normalised.
struct Checked {
    name: String,
    phone: E164,
    email: Option<String>,
    notes: Option<String>,
}

fn check(name: &str, phone: &str, email: Option<&str>, notes: Option<&str>) -> AppResult<Checked> {
    let mut errors = FieldErrors::new();
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 {
        errors.insert("name".into(), "is required, at most 120 characters".into());
    }
    let phone = E164::parse(phone);
    if phone.is_none() {
        errors.insert("phone".into(), "is not a valid phone number".into());
    }
    let email = email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    if email
        .as_deref()
        .is_some_and(|e| !e.contains('@') || e.len() > 254)
    {
        errors.insert("email".into(), "must be an email address".into());
    }
    let notes = notes.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if notes.as_deref().is_some_and(|n| n.chars().count() > 2000) {
        errors.insert("notes".into(), "must be at most 2000 characters".into());
    }
    match phone.filter(|_| errors.is_empty()) {
        Some(phone) => Ok(Checked {
            name,
            phone,
            email,
            notes,
        }),
        None => Err(AppError::Validation(errors)),
    }
}

/// Creates a contact; a number the tenant already has is a 409.
pub async fn create(db: &Db, tenant_id: &str, new: NewContact) -> AppResult<Contact> {
    let c = check(
        &new.name,
        &new.phone,
        new.email.as_deref(),
        new.notes.as_deref(),
    )?;
    let id = new_id("con");
    sqlx::query("INSERT INTO contacts (id, tenant_id, name, phone, email, notes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&id)
        .bind(tenant_id)
        .bind(&c.name)
        .bind(c.phone.as_str())
        .bind(c.email.as_deref())
        .bind(c.notes.as_deref())
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    get(db, tenant_id, &id).await
}

/// One of the tenant's contacts; another tenant's id is 404.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> AppResult<Contact> {
    let row = sqlx::query("SELECT * FROM contacts WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(from_row(&row)?)
}

/// The tenant a contact belongs to.
pub async fn owner(db: &Db, id: &str) -> AppResult<Option<String>> {
    Ok(crate::db::row_tenant(db, "contacts", id).await?)
}

/// Changing a contact; absent fields stay, `null` or blank clears email and notes.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactUpdate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New number.
    #[serde(default)]
    pub phone: Option<String>,
    /// New email.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub email: Option<Option<String>>,
    /// New notes.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub notes: Option<Option<String>>,
}

/// Changes one of the tenant's contacts; a number another of its contacts has is a 409.
pub async fn update(
    db: &Db,
    tenant_id: &str,
    id: &str,
    change: ContactUpdate,
) -> AppResult<Contact> {
    let now = get(db, tenant_id, id).await?;
    let name = change.name.unwrap_or(now.name);
    let phone = change.phone.unwrap_or(now.phone);
    let email = change.email.unwrap_or(now.email);
    let notes = change.notes.unwrap_or(now.notes);
    let c = check(&name, &phone, email.as_deref(), notes.as_deref())?;
    sqlx::query("UPDATE contacts SET name = $1, phone = $2, email = $3, notes = $4 WHERE id = $5 AND tenant_id = $6")
        .bind(&c.name)
        .bind(c.phone.as_str())
        .bind(c.email.as_deref())
        .bind(c.notes.as_deref())
        .bind(id)
        .bind(tenant_id)
        .execute(db.pool())
        .await?;
    get(db, tenant_id, id).await
}

/// Deletes one of the tenant's contacts (its calls simply stop linking to it).
pub async fn delete(db: &Db, tenant_id: &str, id: &str) -> AppResult<()> {
    if crate::db::delete_tenant_row(db, "contacts", tenant_id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Deletes the tenant's contact for `phone`, if any ("forget this caller").
pub async fn forget_phone(db: &Db, tenant_id: &str, phone: &str) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND phone = $2")
        .bind(tenant_id)
        .bind(phone)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// A tenant's contacts by name, optionally matching `q` in name or number.
pub async fn list(db: &Db, tenant_id: &str, q: Option<&str>) -> AppResult<Vec<Contact>> {
    let rows = match q.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            let pattern = format!(
                "%{}%",
                q.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            sqlx::query(
                "SELECT * FROM contacts WHERE tenant_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR phone LIKE $2 ESCAPE '\\')
                 ORDER BY name LIMIT 500",
            )
            .bind(tenant_id)
            .bind(pattern)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query("SELECT * FROM contacts WHERE tenant_id = $1 ORDER BY name LIMIT 500")
                .bind(tenant_id)
                .fetch_all(db.pool())
                .await?
        }
    };
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The tenant's contacts among `numbers`: phone → (id, name).
async fn matching(
    db: &Db,
    tenant_id: &str,
    numbers: &[String],
) -> AppResult<std::collections::HashMap<String, (String, String)>> {
    let mut numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    numbers.sort_unstable();
    numbers.dedup();
    if numbers.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    // All placeholders from one source: sqlx numbers plain `?` from 1 whatever `$n` precede.
    let sql = format!(
        "SELECT id, name, phone FROM contacts WHERE tenant_id = {} AND phone IN ({})",
        db.placeholders(1, 1),
        db.placeholders(2, numbers.len())
    );
    let mut q = sqlx::query(&sql).bind(tenant_id);
    for n in &numbers {
        q = q.bind(*n);
    }
    Ok(q.fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("phone")?,
                (
                    r.try_get::<String, _>("id")?,
                    r.try_get::<String, _>("name")?,
                ),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Fills `contactId` on call logs whose customer (the caller, or whom staff called) is
/// one of their tenant's contacts.
pub async fn link(db: &Db, logs: &mut [crate::calls::CallLog]) -> AppResult<()> {
    let mut by_tenant: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for log in logs.iter() {
        if let Some(number) = log.customer_number() {
            by_tenant
                .entry(log.customer_id.clone())
                .or_default()
                .push(number.to_owned());
        }
    }
    for (tenant, numbers) in by_tenant {
        let found = matching(db, &tenant, &numbers).await?;
        for log in logs.iter_mut().filter(|l| l.customer_id == tenant) {
            log.contact_id = log
                .customer_number()
                .and_then(|n| found.get(n).map(|(id, _)| id.clone()));
        }
    }
    Ok(())
}

/// Names of the tenant's contacts among `numbers`: phone → name.
pub async fn names(
    db: &Db,
    tenant_id: &str,
    numbers: &[String],
) -> AppResult<std::collections::HashMap<String, String>> {
    Ok(matching(db, tenant_id, numbers)
        .await?
        .into_iter()
        .map(|(phone, (_, name))| (phone, name))
        .collect())
}
