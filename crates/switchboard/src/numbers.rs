//! Phone numbers: the E.164 newtype and the tenants' tracking numbers. Owns
//! `phone_numbers`, where a number is unique across all tenants.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms};
use crate::error::{AppError, AppResult, FieldErrors};

/// A phone number people configured, normalised to E.164 (`+15551230001`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct E164(String);

/// Region assumed for numbers written without a country code.
const DEFAULT_REGION: phonenumber::country::Id = phonenumber::country::Id::US;

impl E164 {
    /// Parses "+1 (555) 123-0001", "15551230001", "555-123-0001" and the like.
    ///
    /// A number is accepted when libphonenumber knows it as valid, or when it has the
    /// North American plan's shape (ten digits, area code not starting with 0 or 1),
    /// which admits the fictional 555 numbers used in tests, demos and the simulator.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        if input.is_empty() || input.len() > 32 || input.chars().any(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let number = phonenumber::parse(Some(DEFAULT_REGION), input).ok()?;
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        if phonenumber::is_valid(&number) || is_nanp_shaped(&e164) {
            Some(Self(e164))
        } else {
            None
        }
    }

    /// A number as a lookup key: canonical E.164 as Twilio sends it (`+` and 8–15
    /// digits) is taken as is, without libphonenumber's cost on every webhook; other
    /// spellings go through [`E164::parse`]. Only for finding numbers we stored, which
    /// were validated when they were configured.
    pub fn lookup_key(input: &str) -> Option<Self> {
        match input.strip_prefix('+') {
            Some(digits)
                if (8..=15).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0') =>
            {
                Some(Self(input.to_owned()))
            }
            _ => Self::parse(input),
        }
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `AC…1234`-style masking for logs: keeps the last four digits.
    pub fn masked(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl std::fmt::Display for E164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_nanp_shaped(e164: &str) -> bool {
    let Some(national) = e164.strip_prefix("+1") else {
        return false;
    };
    let b = national.as_bytes();
    b.len() == 10 && b.iter().all(u8::is_ascii_digit) && b[0] >= b'2'
}

/// A tenant's tracking number.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    /// `num_…`.
    pub id: String,
    /// E.164.
    pub phone_number: String,
    /// Label shown in the portal ("Google Ads", "Front desk").
    pub friendly_name: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    /// The number used as caller id for outbound calls and texts.
    pub is_primary: bool,
}

/// The number a tenant calls and texts from: its primary active one, else any active one.
pub fn sending_number(numbers: &[PhoneNumber]) -> Option<&PhoneNumber> {
    numbers
        .iter()
        .filter(|n| n.status == "active")
        .max_by_key(|n| n.is_primary)
}

/// A number in a configuration request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NumberInput {
    /// Any common spelling; stored as E.164.
    pub phone_number: String,
    /// Label.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: Option<String>,
    /// Primary number.
    #[serde(default)]
    pub is_primary: Option<bool>,
}

struct CheckedNumber {
    e164: E164,
    friendly_name: Option<String>,
    status: &'static str,
    is_primary: bool,
}

fn check_inputs(inputs: &[NumberInput]) -> Result<Vec<CheckedNumber>, AppError> {
    let mut errors = FieldErrors::new();
    let mut out: Vec<CheckedNumber> = Vec::new();
    if inputs.len() > 100 {
        errors.insert(
            "phoneNumbers".into(),
            "at most 100 numbers per tenant".into(),
        );
    }
    for (i, input) in inputs.iter().enumerate() {
        let field = format!("phoneNumbers[{i}]");
        let Some(e164) = E164::parse(&input.phone_number) else {
            errors.insert(
                format!("{field}.phoneNumber"),
                "is not a valid phone number".into(),
            );
            continue;
        };
        if out.iter().any(|n| n.e164 == e164) {
            errors.insert(
                format!("{field}.phoneNumber"),
                format!("{e164} is listed twice"),
            );
            continue;
        }
        let status = match input.status.as_deref() {
            None | Some("active") => "active",
            Some("inactive") => "inactive",
            Some(_) => {
                errors.insert(
                    format!("{field}.status"),
                    "must be active or inactive".into(),
                );
                "active"
            }
        };
        let friendly_name = match label(input.friendly_name.as_deref()) {
            Ok(label) => label,
            Err(why) => {
                errors.insert(format!("{field}.friendlyName"), why.into());
                None
            }
        };
        out.push(CheckedNumber {
            e164,
            friendly_name: friendly_name.map(str::to_owned),
            status,
            is_primary: input.is_primary.unwrap_or(false),
        });
    }
    if out.iter().filter(|n| n.is_primary).count() > 1 {
        errors.insert(
            "phoneNumbers".into(),
            "only one number can be primary".into(),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    // Exactly one primary when there are numbers: the first, unless one was chosen.
    if !out.is_empty() && !out.iter().any(|n| n.is_primary) {
        out[0].is_primary = true;
    }
    Ok(out)
}

/// Adds what is wrong with `inputs` to `errors`, so a caller can report every field at once.
pub fn check(inputs: &[NumberInput], errors: &mut FieldErrors) {
    if let Err(AppError::Validation(found)) = check_inputs(inputs) {
        errors.extend(found);
    }
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<PhoneNumber, sqlx::Error> {
    Ok(PhoneNumber {
        id: row.try_get("id")?,
        phone_number: row.try_get("e164")?,
        friendly_name: row.try_get("friendly_name")?,
        status: row.try_get("status")?,
        is_primary: row.try_get::<i64, _>("is_primary")? != 0,
    })
}

/// A tenant's numbers, primary first.
pub async fn list_for_tenant(db: &Db, tenant_id: &str) -> AppResult<Vec<PhoneNumber>> {
    let rows = sqlx::query(
        "SELECT id, e164, friendly_name, status, is_primary FROM phone_numbers
         WHERE tenant_id = $1 ORDER BY is_primary DESC, e164",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The tenant that owns a number, if any.
pub async fn owner_of(db: &Db, number: &E164) -> AppResult<Option<String>> {
    owner_in(db.pool(), number).await
}

/// The owner of a number as `conn` (a pool or an open transaction) sees it.
async fn owner_in<'c, E>(conn: E, number: &E164) -> AppResult<Option<String>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT tenant_id FROM phone_numbers WHERE e164 = $1")
        .bind(number.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("tenant_id")).transpose()?)
}

fn owned_elsewhere(number: &E164) -> AppError {
    AppError::Conflict(format!("{number} belongs to another tenant"))
}

/// An insert refused by the unique number: another tenant took it meanwhile.
fn insert_refused(e: sqlx::Error, number: &E164) -> AppError {
    match AppError::from(e) {
        AppError::Conflict(_) | AppError::Taken { .. } => owned_elsewhere(number),
        other => other,
    }
}

/// A portal label: trimmed, blank is none, at most 64 characters.
fn label(raw: Option<&str>) -> Result<Option<&str>, &'static str> {
    let label = raw.map(str::trim).filter(|s| !s.is_empty());
    if label.is_some_and(|n| n.chars().count() > 64) {
        return Err("must be at most 64 characters");
    }
    Ok(label)
}

/// Replaces a tenant's set of numbers. A number another tenant owns is a 409 and
/// changes nothing.
pub async fn replace_for_tenant(
    db: &Db,
    tenant_id: &str,
    inputs: &[NumberInput],
) -> AppResult<Vec<PhoneNumber>> {
    let numbers = check_inputs(inputs)?;
    let mut tx = db.begin_write().await?;
    for n in &numbers {
        if owner_in(&mut *tx, &n.e164)
            .await?
            .is_some_and(|owner| owner != tenant_id)
        {
            return Err(owned_elsewhere(&n.e164));
        }
    }
    sqlx::query("DELETE FROM phone_numbers WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    let now = now_ms();
    for n in &numbers {
        sqlx::query(
            "INSERT INTO phone_numbers (id, tenant_id, e164, friendly_name, status, is_primary, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id("num"))
        .bind(tenant_id)
        .bind(n.e164.as_str())
        .bind(n.friendly_name.as_deref())
        .bind(n.status)
        .bind(i64::from(n.is_primary))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| insert_refused(e, &n.e164))?;
    }
    tx.commit().await?;
    db.routing_changed();
    list_for_tenant(db, tenant_id).await
}

/// Attaches one number to a tenant, keeping its others; the first becomes primary.
/// A number another tenant owns is a 409.
pub async fn attach(
    db: &Db,
    tenant_id: &str,
    number: &E164,
    friendly_name: Option<&str>,
) -> AppResult<PhoneNumber> {
    let friendly_name = label(friendly_name).map_err(|why| AppError::field("friendlyName", why))?;
    let mut tx = db.begin_write().await?;
    match owner_in(&mut *tx, number).await? {
        Some(owner) if owner != tenant_id => return Err(owned_elsewhere(number)),
        Some(_) => {
            if let Some(name) = friendly_name {
                sqlx::query("UPDATE phone_numbers SET friendly_name = $1 WHERE e164 = $2")
                    .bind(name)
                    .bind(number.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        None => {
            let has_primary = sqlx::query(
                "SELECT 1 AS one FROM phone_numbers WHERE tenant_id = $1 AND is_primary = 1",
            )
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            sqlx::query(
                "INSERT INTO phone_numbers (id, tenant_id, e164, friendly_name, status, is_primary, created_at)
                 VALUES ($1, $2, $3, $4, 'active', $5, $6)",
            )
            .bind(new_id("num"))
            .bind(tenant_id)
            .bind(number.as_str())
            .bind(friendly_name)
            .bind(i64::from(!has_primary))
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| insert_refused(e, number))?;
        }
    }
    tx.commit().await?;
    db.routing_changed();
    list_for_tenant(db, tenant_id)
        .await?
        .into_iter()
        .find(|n| n.phone_number == number.as_str())
        .ok_or(AppError::NotFound)
}

/// Detaches one of a tenant's numbers, or all of them; returns what was removed.
/// When the primary goes, the next number becomes primary.
pub async fn detach(db: &Db, tenant_id: &str, number: Option<&E164>) -> AppResult<Vec<String>> {
    let before = list_for_tenant(db, tenant_id).await?;
    let removed: Vec<String> = before
        .iter()
        .filter(|n| number.is_none_or(|only| only.as_str() == n.phone_number))
        .map(|n| n.phone_number.clone())
        .collect();
    if removed.is_empty() {
        return Err(AppError::NotFound);
    }
    let mut tx = db.begin_write().await?;
    for e164 in &removed {
        sqlx::query("DELETE FROM phone_numbers WHERE tenant_id = $1 AND e164 = $2")
            .bind(tenant_id)
            .bind(e164.as_str())
            .execute(&mut *tx)
            .await?;
    }
    if let Some(next) = before
        .iter()
        .find(|n| !removed.contains(&n.phone_number))
        .filter(|_| {
            before
                .iter()
                .any(|n| n.is_primary && removed.contains(&n.phone_number))
        })
    {
        sqlx::query("UPDATE phone_numbers SET is_primary = 1 WHERE id = $1")
            .bind(next.id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    db.routing_changed();
    Ok(removed)
}

/// Every assigned number and the tenant it belongs to.
pub async fn assignments(db: &Db) -> AppResult<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT e164, tenant_id FROM phone_numbers ORDER BY e164")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get("e164")?, r.try_get("tenant_id")?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_spellings_are_one_number() {
        for s in [
            "+1 (555) 123-0001",
            "15551230001",
            "+15551230001",
            "555-123-0001",
            "(555) 123 0001",
        ] {
            assert_eq!(
                E164::parse(s).map(|n| n.0),
                Some("+15551230001".to_owned()),
                "{s}"
            );
        }
        assert_eq!(
            E164::parse("+44 20 7946 0958").map(|n| n.0),
            Some("+442079460958".to_owned())
        );
    }

    #[test]
    fn junk_is_refused() {
        for s in [
            "",
            "abc",
            "123",
            "+1 (055) 123-0001",
            "client:alice",
            "+99912345",
            "5551230001x",
            &"9".repeat(40),
        ] {
            assert!(E164::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn inputs_pick_a_primary_and_refuse_duplicates() {
        let input = |n: &str, p: Option<bool>| NumberInput {
            phone_number: n.into(),
            friendly_name: None,
            status: None,
            is_primary: p,
        };
        let ok = check_inputs(&[input("5551230001", None), input("5551230002", None)]).expect("ok");
        assert!(ok[0].is_primary && !ok[1].is_primary);
        let chosen = check_inputs(&[input("5551230001", None), input("5551230002", Some(true))])
            .expect("ok");
        assert!(!chosen[0].is_primary && chosen[1].is_primary);
        assert!(check_inputs(&[input("+15551230001", None), input("15551230001", None)]).is_err());
        assert!(
            check_inputs(&[
                input("5551230001", Some(true)),
                input("5551230002", Some(true))
            ])
            .is_err()
        );
    }

    #[test]
    fn lookup_keys_agree_with_parse_on_canonical_numbers() {
        for n in ["+15551230001", "+442079460958", "+61291234567"] {
            assert_eq!(E164::lookup_key(n), E164::parse(n), "{n}");
        }
        assert_eq!(
            E164::lookup_key("5551230001").map(|n| n.0),
            Some("+15551230001".to_owned())
        );
        assert_eq!(E164::lookup_key("+0123"), None);
        assert_eq!(E164::lookup_key("client:alice"), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC{0,40}") {
            if let Some(n) = E164::parse(&s) {
                prop_assert_eq!(E164::parse(n.as_str()), Some(n.clone()));
                prop_assert!(n.as_str().starts_with('+'));
            }
        }
    }
}
