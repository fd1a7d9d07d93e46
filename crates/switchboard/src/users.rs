//! People who log in: admins (the platform), customers (a tenant's owner) and
//! receptionists (a tenant's staff, limited to their `allowedPages`). Owns `users`.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms, rfc3339};
use crate::error::{AppError, AppResult, FieldErrors};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The platform operator.
    Admin,
    /// A tenant's owner: everything inside the tenant.
    Customer,
    /// A tenant's staff: only the pages in `allowedPages`.
    Receptionist,
}

impl Role {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Customer => "customer",
            Self::Receptionist => "receptionist",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "customer" => Some(Self::Customer),
            "receptionist" => Some(Self::Receptionist),
            _ => None,
        }
    }
}

/// The portal's pages a receptionist can be granted.
pub const PAGES: &[&str] = &[
    "dashboard",
    "call-logs",
    "calls",
    "contacts",
    "messages",
    "appointments",
    "settings",
];

/// A user as clients see it (never the hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// `usr_…`.
    pub id: String,
    /// Login, lower-cased.
    pub email: String,
    /// Role.
    pub role: Role,
    /// The tenant (none for admins).
    pub tenant_id: Option<String>,
    /// Pages a receptionist may open (customers and admins may open all).
    pub allowed_pages: Vec<String>,
    /// The user's own phone (E.164): click-to-call rings it, then bridges the customer.
    pub phone: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl User {
    /// Whether this user may open `page` of their tenant.
    pub fn may_open(&self, page: &str) -> bool {
        match self.role {
            Role::Admin | Role::Customer => true,
            Role::Receptionist => self.allowed_pages.iter().any(|p| p == page),
        }
    }
}

/// Creating a user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// Login.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Required for customers and receptionists; absent for admins.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Pages for receptionists.
    #[serde(default)]
    pub allowed_pages: Option<Vec<String>>,
    /// The user's own phone.
    #[serde(default)]
    pub phone: Option<String>,
}

/// Changing a user; absent fields stay as they are.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserUpdate {
    /// New login.
    #[serde(default)]
    pub email: Option<String>,
    /// New password.
    #[serde(default)]
    pub password: Option<String>,
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// New tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// New pages.
    #[serde(default)]
    pub allowed_pages: Option<Vec<String>>,
    /// New phone; an empty string removes it.
    #[serde(default)]
    pub phone: Option<String>,
}

/// A user changing their own profile: only what is theirs to change.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileUpdate {
    /// The phone click-to-call rings; an empty string removes it.
    #[serde(default)]
    pub phone: Option<String>,
}

const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 256;

fn check_email(email: &str, errors: &mut FieldErrors) -> String {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if !valid {
        errors.insert("email".into(), "must be an email address".into());
    }
    email
}

/// A phone as given → E.164, `None` for an empty one; anything else is a field error.
fn check_phone(phone: &str, errors: &mut FieldErrors) -> Option<String> {
    let phone = phone.trim();
    if phone.is_empty() {
        return None;
    }
    match crate::numbers::E164::parse(phone) {
        Some(n) => Some(n.as_str().to_owned()),
        None => {
            errors.insert(
                "phone".into(),
                "must be a phone number, e.g. +15551234567".into(),
            );
            None
        }
    }
}

/// The email is another user's (checked first; the unique index says the same).
const EMAIL_TAKEN: AppError = AppError::Taken {
    field: "email",
    message: "a user with this email already exists",
};

fn check_password(password: &str, errors: &mut FieldErrors) {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        errors.insert(
            "password".into(),
            format!("must be at least {MIN_PASSWORD} characters"),
        );
    } else if n > MAX_PASSWORD {
        errors.insert(
            "password".into(),
            format!("must be at most {MAX_PASSWORD} characters"),
        );
    } else if password.trim().is_empty() {
        errors.insert("password".into(), "must not be only spaces".into());
    } else if is_common_password(password) {
        errors.insert(
            "password".into(),
            "is one of the most common passwords; choose another".into(),
        );
    }
}

/// The most common passwords of 8 or more characters in published breach lists (the
/// shorter ones are refused by length already), compared without case.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "passwort",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "12341234",
    "11111111",
    "00000000",
    "88888888",
    "87654321",
    "123123123",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "qwerty1234",
    "asdfghjkl",
    "asdfasdf",
    "zxcvbnm1",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "letmein1",
    "trustno1",
    "superman",
    "starwars",
    "whatever",
    "computer",
    "michelle",
    "jennifer",
    "corvette",
    "mercedes",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "aa123456",
    "a1234567",
    "11223344",
    "12344321",
    "1234qwer",
    "q1w2e3r4",
    "zaq12wsx",
    "changeme",
    "changeme1",
    "administrator",
    "admin123",
    "admin1234",
    "letmein123",
    "monkey123",
    "dragon123",
    "master123",
    "football1",
    "charlie1",
    "shadow123",
    "qazwsxedc",
    "iloveu123",
    "switchboard",
    "switchboard1",
];

fn is_common_password(password: &str) -> bool {
    let lower = password.trim().to_lowercase();
    COMMON_PASSWORDS.contains(&lower.as_str())
}

fn check_pages(pages: &[String], errors: &mut FieldErrors) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for page in pages {
        if !PAGES.contains(&page.as_str()) {
            errors.insert(
                "allowedPages".into(),
                format!("unknown page '{page}' (known: {})", PAGES.join(", ")),
            );
        } else if !out.contains(page) {
            out.push(page.clone());
        }
    }
    out
}

/// Checks the role/tenant pairing: admins have no tenant, others need an existing one.
async fn check_tenant(
    db: &Db,
    role: Role,
    tenant_id: Option<&str>,
    errors: &mut FieldErrors,
) -> AppResult<()> {
    match (role, tenant_id) {
        (Role::Admin, Some(_)) => {
            errors.insert("tenantId".into(), "admins belong to no tenant".into());
        }
        (Role::Admin, None) => {}
        (_, None) => {
            errors.insert(
                "tenantId".into(),
                "is required for customers and receptionists".into(),
            );
        }
        (_, Some(id)) => {
            if !crate::tenants::exists(db, id).await? {
                errors.insert("tenantId".into(), "no such tenant".into());
            }
        }
    }
    Ok(())
}

/// Hashes a password with argon2id (bounded; see [`crate::passwords`]).
pub async fn hash_password(password: &str) -> AppResult<String> {
    crate::passwords::hash(password).await
}

/// Checks a password against a stored hash (bounded; `Err(Busy)` when saturated).
pub async fn verify_password(password: &str, hash: &str) -> AppResult<bool> {
    crate::passwords::verify(password, hash).await
}

const COLUMNS: &str = "id, email, role, tenant_id, allowed_pages, phone, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let pages: String = row.try_get("allowed_pages")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: Role::parse(&role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?,
        tenant_id: row.try_get("tenant_id")?,
        allowed_pages: serde_json::from_str(&pages).unwrap_or_default(),
        phone: row.try_get("phone")?,
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// Creates a user.
pub async fn create(db: &Db, new: NewUser) -> AppResult<User> {
    let mut errors = FieldErrors::new();
    let email = check_email(&new.email, &mut errors);
    check_password(&new.password, &mut errors);
    let pages = check_pages(
        new.allowed_pages.as_deref().unwrap_or_default(),
        &mut errors,
    );
    check_tenant(db, new.role, new.tenant_id.as_deref(), &mut errors).await?;
    let phone = new
        .phone
        .as_deref()
        .and_then(|p| check_phone(p, &mut errors));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if find_by_email(db, &email).await?.is_some() {
        return Err(EMAIL_TAKEN);
    }
    let hash = hash_password(&new.password).await?;
    let id = new_id("usr");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, role, tenant_id, allowed_pages, phone, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(&email)
    .bind(&hash)
    .bind(new.role.as_str())
    .bind(new.tenant_id.as_deref())
    .bind(serde_json::to_string(&pages).unwrap_or_else(|_| "[]".into()))
    .bind(phone.as_deref())
    .bind(now)
    .execute(db.pool())
    .await?;
    get(db, &id).await
}

/// One user, or `NotFound`.
pub async fn get(db: &Db, id: &str) -> AppResult<User> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(from_row(&row)?)
}

/// A user and their password hash, by (case-insensitive) email.
pub async fn find_by_email(db: &Db, email: &str) -> AppResult<Option<(User, String)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"
    ))
    .bind(email.trim().to_lowercase())
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("password_hash")?))),
        None => Ok(None),
    }
}

/// Users, optionally of one tenant, by email.
pub async fn list(db: &Db, tenant_id: Option<&str>) -> AppResult<Vec<User>> {
    let rows = match tenant_id {
        Some(t) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY email"
            ))
            .bind(t)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY email"))
                .fetch_all(db.pool())
                .await?
        }
    };
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Whether any user exists (the first start prints how to create an admin).
pub async fn any_exist(db: &Db) -> AppResult<bool> {
    Ok(sqlx::query("SELECT 1 AS one FROM users LIMIT 1")
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// Changes a user. Use [`crate::auth::update_user`], which also ends the sessions of a
/// user whose password changed.
pub async fn update(db: &Db, id: &str, update: UserUpdate) -> AppResult<User> {
    let current = get(db, id).await?;
    let mut errors = FieldErrors::new();
    let email = match &update.email {
        Some(e) => check_email(e, &mut errors),
        None => current.email.clone(),
    };
    if let Some(p) = &update.password {
        check_password(p, &mut errors);
    }
    let role = update.role.unwrap_or(current.role);
    let tenant_id = match (role, &update.tenant_id) {
        (Role::Admin, None) => None,
        (_, Some(t)) => Some(t.clone()),
        (_, None) => current.tenant_id.clone(),
    };
    let pages = match &update.allowed_pages {
        Some(p) => check_pages(p, &mut errors),
        None => current.allowed_pages.clone(),
    };
    check_tenant(db, role, tenant_id.as_deref(), &mut errors).await?;
    let phone = match &update.phone {
        Some(p) => check_phone(p, &mut errors),
        None => current.phone.clone(),
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if email != current.email && find_by_email(db, &email).await?.is_some() {
        return Err(EMAIL_TAKEN);
    }
    sqlx::query("UPDATE users SET email = $1, role = $2, tenant_id = $3, allowed_pages = $4, phone = $5, updated_at = $6 WHERE id = $7")
        .bind(&email)
        .bind(role.as_str())
        .bind(tenant_id.as_deref())
        .bind(serde_json::to_string(&pages).unwrap_or_else(|_| "[]".into()))
        .bind(phone.as_deref())
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    if let Some(password) = &update.password {
        let hash = hash_password(password).await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    get(db, id).await
}

/// A user changes their own profile (the phone click-to-call rings).
pub async fn update_profile(db: &Db, id: &str, update: ProfileUpdate) -> AppResult<User> {
    let current = get(db, id).await?;
    let mut errors = FieldErrors::new();
    let phone = match &update.phone {
        Some(p) => check_phone(p, &mut errors),
        None => current.phone.clone(),
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    sqlx::query("UPDATE users SET phone = $1, updated_at = $2 WHERE id = $3")
        .bind(phone.as_deref())
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    get(db, id).await
}

/// Deletes a user (their sessions go with them).
pub async fn delete(db: &Db, id: &str) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}
