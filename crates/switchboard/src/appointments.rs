//! Appointments and the staff they are booked with. Owns `appointments` and
//! `staff_members`.
//!
//! - Times arrive as RFC 3339 instants or as local times in the tenant's zone, and are
//!   stored as unix ms UTC; clients get both the instant and the local time.
//! - One staff member is never booked twice at once: a booking's write takes the staff
//!   member's row first (a row lock on PostgreSQL, the write lock on SQLite), so two
//!   bookings racing for one slot are checked one after the other and the second is a 409.
//! - The reminder is a job at `start - lead` whose dedupe key names the start: moving the
//!   appointment drops the old job and queues a new one, cancelling drops it, and the text
//!   has an id made of the appointment and its start, so a job run twice (a lease that
//!   ran out, two processes) still texts once.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms, rfc3339};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::jobs::{self, HandlerResult, Job, NewJob};
use crate::numbers::E164;
use crate::state::AppState;

/// The reminder job.
pub const REMIND: &str = "appointments.remind";

/// The confirmation when the tenant wrote none.
pub const DEFAULT_CONFIRMATION: &str = "Hi {name}, your appointment at {business} is booked for {date} at {time} with {staff}. Reply here if you need to change it.";

/// The reminder when the tenant wrote none.
pub const DEFAULT_REMINDER: &str = "Reminder: {name}, you have an appointment at {business} on {date} at {time} with {staff}. Reply here if you can't make it.";

/// The longest appointment.
const MAX_LENGTH_MS: i64 = 24 * 3_600_000;

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Asked for by a caller (the AI receptionist took it); staff confirm or move it.
    Requested,
    /// Booked.
    Scheduled,
    /// The customer confirmed.
    Confirmed,
    /// Called off: frees the slot, drops the reminder.
    Cancelled,
    /// Took place.
    Completed,
    /// The customer did not come.
    NoShow,
}

impl Status {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Scheduled => "scheduled",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
            Self::NoShow => "no-show",
        }
    }

    /// A status by its name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Requested,
            Self::Scheduled,
            Self::Confirmed,
            Self::Cancelled,
            Self::Completed,
            Self::NoShow,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Still ahead: reminders go to these.
    fn upcoming(self) -> bool {
        matches!(self, Self::Scheduled | Self::Confirmed)
    }
}

/// A staff member as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffMember {
    /// `stf_…`.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// E.164.
    pub phone: Option<String>,
    /// Whether new bookings are texted to them.
    pub sms_notifications: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// Creating or changing a staff member (absent fields stay when changing).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaffInput {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Any common spelling; `null` or blank clears.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub phone: Option<Option<String>>,
    /// Text them new bookings.
    #[serde(default)]
    pub sms_notifications: Option<bool>,
    /// Admins only: the tenant (when creating).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

fn staff_from_row(r: &sqlx::any::AnyRow) -> Result<StaffMember, sqlx::Error> {
    Ok(StaffMember {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        phone: r.try_get("phone")?,
        sms_notifications: r.try_get::<i64, _>("sms_notifications")? != 0,
        created_at: rfc3339(r.try_get("created_at")?),
    })
}

fn check_staff(
    name: &str,
    phone: Option<&str>,
    notify: bool,
) -> AppResult<(String, Option<String>)> {
    let mut errors = FieldErrors::new();
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 {
        errors.insert("name".into(), "is required, at most 120 characters".into());
    }
    let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => match E164::parse(raw) {
            Some(p) => Some(p.as_str().to_owned()),
            None => {
                errors.insert("phone".into(), "is not a valid phone number".into());
                None
            }
        },
    };
    if notify && phone.is_none() && !errors.contains_key("phone") {
        errors.insert(
            "phone".into(),
            "is needed to send them SMS notifications".into(),
        );
    }
    if errors.is_empty() {
        Ok((name, phone))
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Adds a staff member.
pub async fn create_staff(db: &Db, tenant_id: &str, input: StaffInput) -> AppResult<StaffMember> {
    let notify = input.sms_notifications.unwrap_or(false);
    let (name, phone) = check_staff(
        input.name.as_deref().unwrap_or_default(),
        input.phone.flatten().as_deref(),
        notify,
    )?;
    let id = new_id("stf");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO staff_members (id, tenant_id, name, phone, sms_notifications, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(&name)
    .bind(phone.as_deref())
    .bind(i64::from(notify))
    .bind(now)
    .execute(db.pool())
    .await?;
    staff(db, tenant_id, &id).await
}

/// One of the tenant's staff; another tenant's id is 404.
pub async fn staff(db: &Db, tenant_id: &str, id: &str) -> AppResult<StaffMember> {
    let row = sqlx::query("SELECT * FROM staff_members WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(staff_from_row(&row)?)
}

/// The tenant's staff by name.
pub async fn list_staff(db: &Db, tenant_id: &str) -> AppResult<Vec<StaffMember>> {
    let rows =
        sqlx::query("SELECT * FROM staff_members WHERE tenant_id = $1 ORDER BY name, id LIMIT 500")
            .bind(tenant_id)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.iter().map(staff_from_row).collect::<Result<_, _>>()?)
}

/// Changes a staff member.
pub async fn update_staff(
    db: &Db,
    tenant_id: &str,
    id: &str,
    input: StaffInput,
) -> AppResult<StaffMember> {
    let now = staff(db, tenant_id, id).await?;
    let name = input.name.unwrap_or(now.name);
    let phone = input.phone.unwrap_or(now.phone);
    let notify = input.sms_notifications.unwrap_or(now.sms_notifications);
    let (name, phone) = check_staff(&name, phone.as_deref(), notify)?;
    sqlx::query(
        "UPDATE staff_members SET name = $1, phone = $2, sms_notifications = $3, updated_at = $4
         WHERE id = $5 AND tenant_id = $6",
    )
    .bind(&name)
    .bind(phone.as_deref())
    .bind(i64::from(notify))
    .bind(now_ms())
    .bind(id)
    .bind(tenant_id)
    .execute(db.pool())
    .await?;
    staff(db, tenant_id, id).await
}

/// Removes a staff member; their appointments stay, with nobody assigned.
pub async fn delete_staff(db: &Db, tenant_id: &str, id: &str) -> AppResult<()> {
    if crate::db::delete_tenant_row(db, "staff_members", tenant_id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// The tenant a staff member belongs to.
pub async fn staff_owner(db: &Db, id: &str) -> AppResult<Option<String>> {
    Ok(crate::db::row_tenant(db, "staff_members", id).await?)
}

/// The reminder of an appointment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reminder {
    /// `none` (nothing to remind), `scheduled`, `sent`, `skipped` or `dropped`.
    pub status: String,
    /// When it goes (or went, or would have gone), RFC 3339.
    pub due_at: Option<String>,
    /// Why it was skipped or dropped.
    pub detail: Option<String>,
    /// The text that carried it.
    pub message_id: Option<String>,
}

/// An appointment as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    /// `apt_…`.
    pub id: String,
    /// The tenant.
    pub customer_id: String,
    /// The contact booked, if one was named.
    pub contact_id: Option<String>,
    /// The customer's name.
    pub customer_name: String,
    /// The customer's number (E.164).
    pub customer_phone: String,
    /// The staff member booked.
    pub staff_member_id: Option<String>,
    /// Their name.
    pub staff_member_name: Option<String>,
    /// RFC 3339 UTC.
    pub start_time: String,
    /// RFC 3339 UTC.
    pub end_time: String,
    /// The start in the tenant's zone (`2026-12-02T10:00:00`).
    pub local_start: String,
    /// The end in the tenant's zone.
    pub local_end: String,
    /// The tenant's zone.
    pub timezone: String,
    /// Free text.
    pub notes: Option<String>,
    /// requested | scheduled | confirmed | cancelled | completed | no-show.
    pub status: Status,
    /// The call it was booked on.
    pub call_sid: Option<String>,
    /// When the last confirmation was texted.
    pub confirmation_sent_at: Option<String>,
    /// Its reminder.
    pub reminder: Reminder,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A stored appointment, times in ms.
#[derive(Debug, Clone)]
struct Stored {
    id: String,
    tenant_id: String,
    contact_id: Option<String>,
    customer_name: String,
    customer_phone: String,
    staff_id: Option<String>,
    staff_name: Option<String>,
    starts_at: i64,
    ends_at: i64,
    notes: Option<String>,
    status: Status,
    call_sid: Option<String>,
    confirmation_sent_at: Option<i64>,
    reminder_state: String,
    reminder_due_at: Option<i64>,
    reminder_detail: Option<String>,
    reminder_message_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const SELECT: &str = "SELECT a.*, s.name AS staff_name FROM appointments a
     LEFT JOIN staff_members s ON s.id = a.staff_id";

fn stored_from_row(r: &sqlx::any::AnyRow) -> Result<Stored, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(Stored {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        contact_id: r.try_get("contact_id")?,
        customer_name: r.try_get("customer_name")?,
        customer_phone: r.try_get("customer_phone")?,
        staff_id: r.try_get("staff_id")?,
        staff_name: r.try_get("staff_name")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        notes: r.try_get("notes")?,
        status: Status::parse(&status).unwrap_or(Status::Scheduled),
        call_sid: r.try_get("call_sid")?,
        confirmation_sent_at: r.try_get("confirmation_sent_at")?,
        reminder_state: r.try_get("reminder_state")?,
        reminder_due_at: r.try_get("reminder_due_at")?,
        reminder_detail: r.try_get("reminder_detail")?,
        reminder_message_id: r.try_get("reminder_message_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn local(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

impl Stored {
    fn view(self, tz_name: &str) -> Appointment {
        let tz = zone(tz_name);
        Appointment {
            local_start: local(self.starts_at, &tz),
            local_end: local(self.ends_at, &tz),
            timezone: tz_name.to_owned(),
            id: self.id,
            customer_id: self.tenant_id,
            contact_id: self.contact_id,
            customer_name: self.customer_name,
            customer_phone: self.customer_phone,
            staff_member_id: self.staff_id,
            staff_member_name: self.staff_name,
            start_time: rfc3339(self.starts_at),
            end_time: rfc3339(self.ends_at),
            notes: self.notes,
            status: self.status,
            call_sid: self.call_sid,
            confirmation_sent_at: self.confirmation_sent_at.map(rfc3339),
            reminder: Reminder {
                status: self.reminder_state,
                due_at: self.reminder_due_at.map(rfc3339),
                detail: self.reminder_detail,
                message_id: self.reminder_message_id,
            },
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

fn zone(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// Reads a time: an RFC 3339 instant (`2026-12-02T15:00:00Z`, `…-05:00`), or a local
/// date and time in the tenant's zone (`2026-12-02T10:00`, `2026-12-02 10:00`).
pub fn parse_time(raw: &str, tz: &jiff::tz::TimeZone) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(t) = raw.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond());
    }
    let civil = raw
        .replacen(' ', "T", 1)
        .parse::<jiff::civil::DateTime>()
        .ok()?;
    Some(
        civil
            .to_zoned(tz.clone())
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// An appointment a caller asked for on a call (the AI receptionist's request).
#[derive(Debug, Clone)]
pub struct CallRequest<'a> {
    /// The call it was asked for on (one request per call).
    pub call_sid: &'a str,
    /// The caller's number as Twilio sent it.
    pub phone: &'a str,
    /// The name the caller gave.
    pub name: &'a str,
    /// Local start in the tenant's zone.
    pub starts: jiff::civil::DateTime,
    /// Length in minutes.
    pub minutes: u32,
    /// What the caller asked for, in their words.
    pub notes: String,
}

/// Stores a caller's appointment request (status `requested`, no staff member, no
/// reminder until staff confirm it). A call makes at most one request: a second one
/// for the same call returns the first, with `false`.
pub async fn request_from_call(
    db: &Db,
    tenant_id: &str,
    r: &CallRequest<'_>,
) -> AppResult<(Appointment, bool)> {
    let tenant = crate::tenants::get(db, tenant_id).await?;
    let starts_at = r
        .starts
        .to_zoned(zone(&tenant.timezone))
        .map_err(AppError::internal)?
        .timestamp()
        .as_millisecond();
    let phone = E164::parse(r.phone).map_or_else(|| r.phone.to_owned(), |p| p.as_str().to_owned());
    let name: String = r.name.chars().take(120).collect();
    let notes: String = r.notes.chars().take(2000).collect();
    let now = now_ms();
    let id = new_id("apt");
    let inserted = sqlx::query(
        "INSERT INTO appointments (id, tenant_id, customer_name, customer_phone, starts_at, ends_at,
            notes, status, call_sid, requested_on_call, reminder_state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $8, 'none', $9, $9)
         ON CONFLICT (requested_on_call) DO NOTHING",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(&name)
    .bind(&phone)
    .bind(starts_at)
    .bind(starts_at + i64::from(r.minutes) * 60_000)
    .bind(&notes)
    .bind(r.call_sid)
    .bind(now)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query(&format!(
        "{SELECT} WHERE a.requested_on_call = $1 AND a.tenant_id = $2"
    ))
    .bind(r.call_sid)
    .bind(tenant_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((stored_from_row(&row)?.view(&tenant.timezone), inserted))
}

/// Creating an appointment.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAppointment {
    /// A contact of the tenant's; fills name and phone when they are left out.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The customer's name.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// The customer's number.
    #[serde(default)]
    pub customer_phone: Option<String>,
    /// The staff member.
    #[serde(default)]
    pub staff_member_id: Option<String>,
    /// Start (see [`parse_time`]).
    #[serde(default)]
    pub start_time: Option<String>,
    /// End; 30 minutes after the start when left out.
    #[serde(default)]
    pub end_time: Option<String>,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
    /// Initial status (default scheduled).
    #[serde(default)]
    pub status: Option<String>,
    /// The call it was booked on.
    #[serde(default)]
    pub call_sid: Option<String>,
    /// Admins only: the tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// Changing an appointment; absent fields stay, `null` clears the optional ones.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppointmentUpdate {
    /// The contact.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub contact_id: Option<Option<String>>,
    /// Name.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// Number.
    #[serde(default)]
    pub customer_phone: Option<String>,
    /// Staff member.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub staff_member_id: Option<Option<String>>,
    /// Start.
    #[serde(default)]
    pub start_time: Option<String>,
    /// End.
    #[serde(default)]
    pub end_time: Option<String>,
    /// Notes.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub notes: Option<Option<String>>,
    /// Status.
    #[serde(default)]
    pub status: Option<String>,
    /// The call.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    pub call_sid: Option<Option<String>>,
}

/// An appointment's fields before they are checked.
struct Draft {
    contact_id: Option<String>,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    staff_id: Option<String>,
    start: Option<String>,
    end: Option<String>,
    notes: Option<String>,
    status: Option<String>,
    call_sid: Option<String>,
}

/// An appointment's fields, checked.
struct Checked {
    contact_id: Option<String>,
    customer_name: String,
    customer_phone: String,
    staff_id: Option<String>,
    starts_at: i64,
    ends_at: i64,
    notes: Option<String>,
    status: Status,
    call_sid: Option<String>,
}

async fn check(db: &Db, tenant_id: &str, tz: &jiff::tz::TimeZone, d: Draft) -> AppResult<Checked> {
    let mut errors = FieldErrors::new();
    let contact_id = d
        .contact_id
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let contact = match &contact_id {
        Some(id) => match crate::contacts::get(db, tenant_id, id).await {
            Ok(c) => Some(c),
            Err(AppError::NotFound) => {
                errors.insert("contactId".into(), "is not one of your contacts".into());
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let name = d
        .customer_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .or_else(|| contact.as_ref().map(|c| c.name.clone()));
    let customer_name = match name {
        Some(n) if n.chars().count() <= 120 => n,
        Some(_) => {
            errors.insert(
                "customerName".into(),
                "must be at most 120 characters".into(),
            );
            String::new()
        }
        None if errors.contains_key("contactId") => String::new(),
        None => {
            errors.insert(
                "customerName".into(),
                "is required (or name a contactId)".into(),
            );
            String::new()
        }
    };
    let phone = d
        .customer_phone
        .filter(|p| !p.trim().is_empty())
        .or_else(|| contact.as_ref().map(|c| c.phone.clone()));
    let customer_phone = match phone.as_deref().map(E164::parse) {
        Some(Some(p)) => p.as_str().to_owned(),
        Some(None) => {
            errors.insert("customerPhone".into(), "is not a valid phone number".into());
            String::new()
        }
        None if errors.contains_key("contactId") => String::new(),
        None => {
            errors.insert(
                "customerPhone".into(),
                "is required (or name a contactId)".into(),
            );
            String::new()
        }
    };
    let staff_id = d
        .staff_id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(id) = &staff_id {
        match staff(db, tenant_id, id).await {
            Ok(_) => {}
            Err(AppError::NotFound) => {
                errors.insert("staffMemberId".into(), "is not one of your staff".into());
            }
            Err(e) => return Err(e),
        }
    }
    let starts_at = match d.start.as_deref() {
        None => {
            errors.insert("startTime".into(), "is required".into());
            None
        }
        Some(raw) => {
            let t = parse_time(raw, tz);
            if t.is_none() {
                errors.insert(
                    "startTime".into(),
                    "must be a date and time (2026-12-02T10:00 in your time zone, or RFC 3339)"
                        .into(),
                );
            }
            t
        }
    };
    let ends_at = match d.end.as_deref() {
        None => starts_at.map(|s| s + 30 * 60_000),
        Some(raw) => {
            let t = parse_time(raw, tz);
            if t.is_none() {
                errors.insert("endTime".into(), "must be a date and time".into());
            }
            t
        }
    };
    if let (Some(s), Some(e)) = (starts_at, ends_at)
        && (e <= s || e - s > MAX_LENGTH_MS)
    {
        errors.insert(
            "endTime".into(),
            "must be after the start and at most 24 hours later".into(),
        );
    }
    let notes = d
        .notes
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if notes.as_deref().is_some_and(|n| n.chars().count() > 2000) {
        errors.insert("notes".into(), "must be at most 2000 characters".into());
    }
    let status = match d.status.as_deref() {
        None => Status::Scheduled,
        Some(s) => Status::parse(s.trim()).unwrap_or_else(|| {
            errors.insert(
                "status".into(),
                "must be requested, scheduled, confirmed, cancelled, completed or no-show".into(),
            );
            Status::Scheduled
        }),
    };
    let call_sid = d
        .call_sid
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if let Some(sid) = &call_sid
        && crate::calls::tenant_of_call(db, sid).await?.as_deref() != Some(tenant_id)
    {
        errors.insert("callSid".into(), "is not one of your calls".into());
    }
    match (starts_at, ends_at) {
        (Some(starts_at), Some(ends_at)) if errors.is_empty() => Ok(Checked {
            contact_id,
            customer_name,
            customer_phone,
            staff_id,
            starts_at,
            ends_at,
            notes,
            status,
            call_sid,
        }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Inside a booking's transaction: takes the staff member's row (so bookings for them
/// are checked one at a time) and refuses a slot that overlaps another live booking.
async fn claim_slot(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    c: &Checked,
    except: Option<&str>,
) -> AppResult<()> {
    let Some(staff_id) = &c.staff_id else {
        return Ok(());
    };
    if c.status == Status::Cancelled || c.status == Status::NoShow {
        return Ok(());
    }
    let locked =
        sqlx::query("UPDATE staff_members SET updated_at = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(now_ms())
            .bind(staff_id)
            .bind(tenant_id)
            .execute(&mut **tx)
            .await?;
    if locked.rows_affected() == 0 {
        return Err(AppError::field("staffMemberId", "is not one of your staff"));
    }
    let clash = sqlx::query(
        "SELECT id, starts_at, ends_at FROM appointments
         WHERE staff_id = $1 AND status NOT IN ('cancelled', 'no-show')
           AND starts_at < $2 AND ends_at > $3 AND id <> $4
         ORDER BY starts_at LIMIT 1",
    )
    .bind(staff_id)
    .bind(c.ends_at)
    .bind(c.starts_at)
    .bind(except.unwrap_or(""))
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = clash {
        let id: String = row.try_get("id")?;
        let (s, e): (i64, i64) = (row.try_get("starts_at")?, row.try_get("ends_at")?);
        return Err(AppError::Conflict(format!(
            "this staff member is already booked from {} to {} (appointment {id})",
            rfc3339(s),
            rfc3339(e)
        )));
    }
    Ok(())
}

/// Books an appointment: checks it, refuses an overlap for its staff member (409),
/// schedules its reminder and texts its staff member when they asked for it.
pub async fn create(db: &Db, tenant_id: &str, new: NewAppointment) -> AppResult<Appointment> {
    let tenant = crate::tenants::get(db, tenant_id).await?;
    let tz = zone(&tenant.timezone);
    let draft = Draft {
        contact_id: new.contact_id,
        customer_name: new.customer_name,
        customer_phone: new.customer_phone,
        staff_id: new.staff_member_id,
        start: new.start_time,
        end: new.end_time,
        notes: new.notes,
        status: new.status,
        call_sid: new.call_sid,
    };
    let c = check(db, tenant_id, &tz, draft).await?;
    let id = new_id("apt");
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    claim_slot(&mut tx, tenant_id, &c, None).await?;
    sqlx::query(
        "INSERT INTO appointments (id, tenant_id, contact_id, customer_name, customer_phone, staff_id, starts_at, ends_at,
            notes, status, call_sid, reminder_state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'none', $12, $12)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(c.contact_id.as_deref())
    .bind(&c.customer_name)
    .bind(&c.customer_phone)
    .bind(c.staff_id.as_deref())
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(c.notes.as_deref())
    .bind(c.status.as_str())
    .bind(c.call_sid.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let stored = load(db, tenant_id, &id).await?;
    schedule_reminder(db, &stored, None).await?;
    if let Err(e) = notify_staff(db, &tenant, &stored).await {
        // The booking stands; the notice is a courtesy.
        tracing::warn!(error = %e, "could not text the staff member about a new appointment");
    }
    get(db, tenant_id, &id).await
}

async fn load(db: &Db, tenant_id: &str, id: &str) -> AppResult<Stored> {
    let row = sqlx::query(&format!("{SELECT} WHERE a.id = $1 AND a.tenant_id = $2"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(stored_from_row(&row)?)
}

/// One of the tenant's appointments; another tenant's id is 404.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> AppResult<Appointment> {
    let tz = crate::tenants::get(db, tenant_id).await?.timezone;
    Ok(load(db, tenant_id, id).await?.view(&tz))
}

/// The tenant an appointment belongs to.
pub async fn owner(db: &Db, id: &str) -> AppResult<Option<String>> {
    Ok(crate::db::row_tenant(db, "appointments", id).await?)
}

/// Which appointments to list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Starting at or after (ms).
    pub from: Option<i64>,
    /// Starting before (ms).
    pub to: Option<i64>,
    /// One staff member's.
    pub staff_id: Option<String>,
    /// Of one status.
    pub status: Option<Status>,
    /// Booked on this call.
    pub call_sid: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

/// Binds a [`Filter`]'s values to [`FILTER`]'s placeholders ($1–$6).
fn bind_filter<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    tenant_id: &'q str,
    f: &'q Filter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(tenant_id)
        .bind(f.from.unwrap_or(i64::MIN))
        .bind(f.to.unwrap_or(i64::MAX))
        .bind(f.staff_id.as_deref().unwrap_or_default())
        .bind(f.status.map(Status::as_str).unwrap_or_default())
        .bind(f.call_sid.as_deref().unwrap_or_default())
}

/// Fixed positions keep the SQL one string on both backends: an absent filter binds a
/// value that matches everything.
const FILTER: &str = "a.tenant_id = $1 AND a.starts_at >= $2 AND a.starts_at < $3
    AND ($4 = '' OR a.staff_id = $4) AND ($5 = '' OR a.status = $5) AND ($6 = '' OR a.call_sid = $6)";

/// A page of the tenant's appointments by start time, and how many match.
pub async fn list(db: &Db, tenant_id: &str, f: &Filter) -> AppResult<(Vec<Appointment>, i64)> {
    let tz = crate::tenants::get(db, tenant_id).await?.timezone;
    let sql = format!("{SELECT} WHERE {FILTER} ORDER BY a.starts_at, a.id LIMIT $7 OFFSET $8");
    let rows = bind_filter(sqlx::query(&sql), tenant_id, f)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(db.pool())
        .await?;
    let count_sql = format!("SELECT COUNT(*) AS n FROM appointments a WHERE {FILTER}");
    let total: i64 = bind_filter(sqlx::query(&count_sql), tenant_id, f)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    let list = rows
        .iter()
        .map(|r| stored_from_row(r).map(|s| s.view(&tz)))
        .collect::<Result<_, _>>()?;
    Ok((list, total))
}

/// Changes an appointment: moves its reminder with it, drops it when it is cancelled,
/// and refuses an overlap for its staff member (409).
pub async fn update(
    db: &Db,
    tenant_id: &str,
    id: &str,
    change: AppointmentUpdate,
) -> AppResult<Appointment> {
    let before = load(db, tenant_id, id).await?;
    let tz_name = crate::tenants::get(db, tenant_id).await?.timezone;
    let tz = zone(&tz_name);
    let draft = Draft {
        contact_id: change.contact_id.unwrap_or(before.contact_id.clone()),
        customer_name: Some(change.customer_name.unwrap_or(before.customer_name.clone())),
        customer_phone: Some(
            change
                .customer_phone
                .unwrap_or(before.customer_phone.clone()),
        ),
        staff_id: change.staff_member_id.unwrap_or(before.staff_id.clone()),
        start: Some(
            change
                .start_time
                .unwrap_or_else(|| rfc3339(before.starts_at)),
        ),
        end: Some(change.end_time.unwrap_or_else(|| rfc3339(before.ends_at))),
        notes: change.notes.unwrap_or(before.notes.clone()),
        status: Some(
            change
                .status
                .unwrap_or_else(|| before.status.as_str().to_owned()),
        ),
        call_sid: change.call_sid.unwrap_or(before.call_sid.clone()),
    };
    let c = check(db, tenant_id, &tz, draft).await?;
    let mut tx = db.begin_write().await?;
    claim_slot(&mut tx, tenant_id, &c, Some(id)).await?;
    sqlx::query(
        "UPDATE appointments SET contact_id = $1, customer_name = $2, customer_phone = $3, staff_id = $4,
            starts_at = $5, ends_at = $6, notes = $7, status = $8, call_sid = $9, updated_at = $10
         WHERE id = $11 AND tenant_id = $12",
    )
    .bind(c.contact_id.as_deref())
    .bind(&c.customer_name)
    .bind(&c.customer_phone)
    .bind(c.staff_id.as_deref())
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(c.notes.as_deref())
    .bind(c.status.as_str())
    .bind(c.call_sid.as_deref())
    .bind(now_ms())
    .bind(id)
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let after = load(db, tenant_id, id).await?;
    if after.starts_at != before.starts_at || after.status != before.status {
        schedule_reminder(db, &after, Some(&before)).await?;
        return Ok(load(db, tenant_id, id).await?.view(&tz_name));
    }
    Ok(after.view(&tz_name))
}

/// Deletes an appointment and its pending reminder.
pub async fn delete(db: &Db, tenant_id: &str, id: &str) -> AppResult<()> {
    let before = load(db, tenant_id, id).await?;
    jobs::drop_pending(db, &reminder_key(&before.id, before.starts_at)).await?;
    crate::db::delete_tenant_row(db, "appointments", tenant_id, id).await?;
    Ok(())
}

fn reminder_key(id: &str, starts_at: i64) -> String {
    format!("{REMIND}:{id}:{starts_at}")
}

/// The id of the reminder text for one start: the same however often the job runs.
fn reminder_message_id(id: &str, starts_at: i64) -> String {
    format!("msg_rem_{id}_{starts_at}")
}

async fn set_reminder(
    db: &Db,
    id: &str,
    state: &str,
    due_at: Option<i64>,
    detail: Option<&str>,
    message_id: Option<&str>,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE appointments SET reminder_state = $1, reminder_due_at = $2, reminder_detail = $3,
            reminder_message_id = COALESCE($4, reminder_message_id)
         WHERE id = $5",
    )
    .bind(state)
    .bind(due_at)
    .bind(detail)
    .bind(message_id)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// After a booking is made or changed: drops the reminder of its previous start and, when
/// it is still ahead, queues one at `start - lead` — or records it skipped when that time
/// has passed already.
async fn schedule_reminder(db: &Db, now: &Stored, before: Option<&Stored>) -> AppResult<()> {
    if let Some(b) = before {
        jobs::drop_pending(db, &reminder_key(&b.id, b.starts_at)).await?;
    }
    if !now.status.upcoming() {
        if now.reminder_state == "scheduled" {
            let detail = format!("The appointment was {}.", now.status.as_str());
            set_reminder(
                db,
                &now.id,
                "dropped",
                now.reminder_due_at,
                Some(&detail),
                None,
            )
            .await?;
        }
        return Ok(());
    }
    let lead = crate::telephony::view(db, &now.tenant_id)
        .await?
        .reminder_lead_minutes;
    let due = now.starts_at - lead * 60_000;
    let clock = now_ms();
    // A minute's grace: "remind me 24 h before" for a booking made 24 h ahead still goes.
    if due < clock - 60_000 {
        set_reminder(
            db,
            &now.id,
            "skipped",
            Some(due),
            Some("The reminder time had already passed when this was booked."),
            None,
        )
        .await?;
        return Ok(());
    }
    let job = NewJob {
        tenant_id: Some(now.tenant_id.clone()),
        dedupe_key: Some(reminder_key(&now.id, now.starts_at)),
        run_at: Some(due.max(clock)),
        ..NewJob::new(
            REMIND,
            serde_json::json!({ "id": now.id, "startsAt": now.starts_at }),
        )
    };
    jobs::enqueue(db, job).await?;
    set_reminder(db, &now.id, "scheduled", Some(due), None, None).await
}

/// The values the templates fill in.
fn template_values(a: &Stored, business: &str, tz_name: &str) -> [(&'static str, String); 5] {
    let tz = zone(tz_name);
    let start = jiff::Timestamp::from_millisecond(a.starts_at)
        .map(|t| t.to_zoned(tz))
        .ok();
    [
        ("name", a.customer_name.clone()),
        ("business", business.to_owned()),
        (
            "date",
            start
                .as_ref()
                .map(|z| z.strftime("%a, %b %-d").to_string())
                .unwrap_or_default(),
        ),
        (
            "time",
            start
                .as_ref()
                .map(|z| z.strftime("%-I:%M %p").to_string())
                .unwrap_or_default(),
        ),
        (
            "staff",
            a.staff_name
                .clone()
                .unwrap_or_else(|| "our team".to_owned()),
        ),
    ]
}

/// Fills a template with example values, for the settings page's preview.
pub fn preview(template: &str, business: &str) -> Result<String, String> {
    crate::telephony::check_template(template, crate::telephony::APPOINTMENT_PLACEHOLDERS)?;
    Ok(crate::telephony::render(
        template,
        &[
            ("name", "Jordan"),
            ("business", business),
            ("date", "Wed, Dec 2"),
            ("time", "10:30 AM"),
            ("staff", "Dr. Patel"),
        ],
    ))
}

/// Which text an appointment sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The booking's confirmation.
    Confirmation,
    /// The reminder.
    Reminder,
}

async fn notice_text(db: &Db, a: &Stored, notice: Notice) -> AppResult<String> {
    let tenant = crate::tenants::get(db, &a.tenant_id).await?;
    let settings = crate::telephony::view(db, &a.tenant_id).await?;
    let template = match notice {
        Notice::Confirmation => settings
            .confirmation_message
            .unwrap_or_else(|| DEFAULT_CONFIRMATION.to_owned()),
        Notice::Reminder => settings
            .reminder_message
            .unwrap_or_else(|| DEFAULT_REMINDER.to_owned()),
    };
    let values = template_values(a, &tenant.name, &tenant.timezone);
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(crate::telephony::render(&template, &pairs))
}

/// Texts an appointment's confirmation or reminder now (the seed's
/// `appointment-confirmation` / `appointment-reminder`). A customer who opted out is a
/// 409 and nothing is queued. A reminder sent this way is the reminder: the scheduled one
/// is dropped.
pub async fn send_notice(
    db: &Db,
    tenant_id: &str,
    id: &str,
    notice: Notice,
    sent_by: Option<&str>,
) -> AppResult<crate::messaging::Message> {
    let a = load(db, tenant_id, id).await?;
    if a.status == Status::Cancelled {
        return Err(AppError::Conflict("this appointment was cancelled".into()));
    }
    if crate::messaging::opted_out_at(db, tenant_id, &a.customer_phone)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(
            "the customer texted STOP and has opted out of texts; nothing was sent".into(),
        ));
    }
    let body = notice_text(db, &a, notice).await?;
    let (message, _) = crate::messaging::send_for_tenant(
        db,
        tenant_id,
        &a.customer_phone,
        &body,
        crate::messaging::SendOptions {
            sent_by,
            appointment_id: Some(&a.id),
            id: None,
        },
    )
    .await?;
    let at = now_ms();
    match notice {
        Notice::Confirmation => {
            sqlx::query("UPDATE appointments SET confirmation_sent_at = $1 WHERE id = $2")
                .bind(at)
                .bind(&a.id)
                .execute(db.pool())
                .await?;
        }
        Notice::Reminder => {
            jobs::drop_pending(db, &reminder_key(&a.id, a.starts_at)).await?;
            set_reminder(db, &a.id, "sent", Some(at), None, message.id.as_deref()).await?;
        }
    }
    Ok(message)
}

/// Texts a new booking to its staff member when they asked for it.
async fn notify_staff(db: &Db, tenant: &crate::tenants::Tenant, a: &Stored) -> AppResult<()> {
    let Some(staff_id) = &a.staff_id else {
        return Ok(());
    };
    let member = staff(db, &tenant.id, staff_id).await?;
    let (true, Some(phone)) = (member.sms_notifications, member.phone.as_deref()) else {
        return Ok(());
    };
    let values = template_values(a, &tenant.name, &tenant.timezone);
    let body = format!(
        "New appointment: {} ({}) on {} at {}.",
        a.customer_name, a.customer_phone, values[2].1, values[3].1
    );
    crate::messaging::send_for_tenant(
        db,
        &tenant.id,
        phone,
        &body,
        crate::messaging::SendOptions {
            sent_by: None,
            appointment_id: Some(&a.id),
            id: None,
        },
    )
    .await?;
    Ok(())
}

/// Runs [`REMIND`]: texts the reminder once, unless the appointment moved (a newer job
/// has it), was cancelled, has started, or its customer opted out — the last two are
/// recorded as skipped.
pub async fn remind_job(state: AppState, job: Job) -> HandlerResult {
    let db = &state.db;
    let id = job.text("id")?;
    let tenant = job.tenant()?;
    let starts_at = job
        .payload
        .get("startsAt")
        .and_then(serde_json::Value::as_i64)
        .ok_or("payload has no startsAt")?;
    let a = match load(db, &tenant, &id).await {
        Ok(a) => a,
        Err(AppError::NotFound) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if a.starts_at != starts_at || !a.status.upcoming() || a.reminder_state == "sent" {
        return Ok(());
    }
    let skip = |detail: &'static str| {
        set_reminder(db, &a.id, "skipped", a.reminder_due_at, Some(detail), None)
    };
    if a.starts_at <= now_ms() {
        return skip("The appointment had already started when the reminder was due.")
            .await
            .map_err(|e| e.to_string());
    }
    if crate::messaging::opted_out_at(db, &tenant, &a.customer_phone)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return skip("The customer texted STOP and has opted out of texts.")
            .await
            .map_err(|e| e.to_string());
    }
    let body = notice_text(db, &a, Notice::Reminder)
        .await
        .map_err(|e| e.to_string())?;
    let message_id = reminder_message_id(&a.id, a.starts_at);
    let sent = crate::messaging::send_for_tenant(
        db,
        &tenant,
        &a.customer_phone,
        &body,
        crate::messaging::SendOptions {
            sent_by: None,
            appointment_id: Some(&a.id),
            id: Some(&message_id),
        },
    )
    .await;
    match sent {
        Ok(_) => set_reminder(
            db,
            &a.id,
            "sent",
            a.reminder_due_at,
            None,
            Some(&message_id),
        )
        .await
        .map_err(|e| e.to_string()),
        // Nothing to send from, or a template that no longer fits: recorded, not retried.
        Err(e @ (AppError::Conflict(_) | AppError::Validation(_))) => {
            let detail = format!("Not sent: {e}");
            set_reminder(db, &a.id, "skipped", a.reminder_due_at, Some(&detail), None)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The day's and week's appointments per staff member, for the portal.
pub async fn between(db: &Db, tenant_id: &str, from: i64, to: i64) -> AppResult<Vec<Appointment>> {
    let filter = Filter {
        from: Some(from),
        to: Some(to),
        limit: 500,
        ..Filter::default()
    };
    Ok(list(db, tenant_id, &filter).await?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_instants_or_local_times() {
        let ny = jiff::tz::TimeZone::get("America/New_York").expect("zone");
        let utc = parse_time("2026-12-02T15:00:00Z", &ny).expect("instant");
        assert_eq!(parse_time("2026-12-02T10:00", &ny), Some(utc));
        assert_eq!(parse_time("2026-12-02 10:00:00", &ny), Some(utc));
        assert_eq!(parse_time("2026-12-02T10:00:00-05:00", &ny), Some(utc));
        assert_eq!(parse_time("tomorrow", &ny), None);
        assert_eq!(parse_time("2026-13-02T10:00", &ny), None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            "scheduled",
            "confirmed",
            "cancelled",
            "completed",
            "no-show",
        ] {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(s));
        }
        assert_eq!(Status::parse("done"), None);
    }

    #[test]
    fn previews_fill_every_placeholder() {
        let p = preview(DEFAULT_CONFIRMATION, "Bright Smiles").expect("valid");
        assert!(!p.contains('{'), "{p}");
        assert!(
            p.contains("Bright Smiles") && p.contains("Dr. Patel"),
            "{p}"
        );
        assert!(preview("Hi {first_name}", "X").is_err());
    }
}
