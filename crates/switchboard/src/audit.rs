//! The audit log: who did what, to which tenant, from where. Owns `audit_log`.
//!
//! Append-only: this module has no update or delete, and the database refuses both
//! (triggers). Entries outlive the users and tenants they name. Values never enter it:
//! a settings change records which fields changed, a login the email tried, never a
//! password, token or credential.
//!
//! Most entries are written by [`capture`], a layer over the API and the portal: a
//! request to an audited route ([`action_for`]) that succeeded is recorded with the
//! actor its session resolved to, the tenant it acted on and the route's ids. Work done
//! without a request (retention runs) calls [`record`] itself.

use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::db::{Db, new_id, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::users::User;

/// One thing that happened.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    /// The user who did it (`None`: the service itself, or nobody signed in).
    pub actor_id: Option<String>,
    /// Their email then (or the email a failed login tried).
    pub actor_email: Option<String>,
    /// The tenant it concerned.
    pub tenant_id: Option<String>,
    /// What (`tenant.update`, `recording.play`, …).
    pub action: String,
    /// What it was done to: the route's ids, a phone number's SID, ….
    pub target: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// A few words more (which fields changed); never a value.
    pub detail: Option<String>,
}

/// A stored entry, as the API answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `aud_…`.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// The user, if any.
    pub actor_id: Option<String>,
    /// Their email at the time.
    pub actor_email: Option<String>,
    /// The tenant concerned, if any.
    pub tenant_id: Option<String>,
    /// What happened.
    pub action: String,
    /// To what.
    pub target: Option<String>,
    /// From where.
    pub ip: Option<String>,
    /// More.
    pub detail: Option<String>,
}

/// Stores `entry` now.
pub async fn record(db: &Db, entry: NewEntry) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, actor_email, tenant_id, action, target, ip, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id("aud"))
    .bind(now_ms())
    .bind(entry.actor_id)
    .bind(entry.actor_email)
    .bind(entry.tenant_id)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.ip)
    .bind(entry.detail)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    /// One tenant's (admins; an owner always gets their own).
    pub tenant_id: Option<String>,
    /// One action, or every action starting with it and a dot (`number` → `number.*`).
    pub action: Option<String>,
    /// One actor (user id or email).
    pub actor: Option<String>,
    /// RFC 3339: not before.
    pub since: Option<String>,
    /// RFC 3339: before.
    pub until: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

fn parse_time(field: &'static str, value: &str) -> AppResult<i64> {
    let ts: jiff::Timestamp = value
        .parse()
        .map_err(|_| AppError::field(field, "an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))?;
    Ok(ts.as_millisecond())
}

/// Entries matching `filter`, newest first; `tenant` (when set) overrides the filter's.
pub async fn list(db: &Db, filter: &Filter, tenant: Option<&str>) -> AppResult<Vec<Entry>> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field("limit", "between 1 and 500"));
    }
    let since = filter
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let until = filter
        .until
        .as_deref()
        .map(|s| parse_time("until", s))
        .transpose()?;
    let tenant = tenant.or(filter.tenant_id.as_deref());
    let action = filter
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let actor = filter
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let rows = sqlx::query(
        "SELECT id, at, actor_id, actor_email, tenant_id, action, target, ip, detail FROM audit_log
         WHERE ($1 IS NULL OR tenant_id = $1)
           AND ($2 IS NULL OR action = $2 OR action LIKE $3)
           AND ($4 IS NULL OR actor_id = $4 OR actor_email = $5)
           AND ($6 IS NULL OR at >= $6)
           AND ($7 IS NULL OR at < $7)
         ORDER BY at DESC, id DESC LIMIT $8",
    )
    .bind(tenant)
    .bind(action)
    .bind(action.map(|a| format!("{a}.%")))
    .bind(actor)
    .bind(actor.map(str::to_lowercase))
    .bind(since)
    .bind(until)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get("id")?,
                at: rfc3339(r.try_get("at")?),
                actor_id: r.try_get("actor_id")?,
                actor_email: r.try_get("actor_email")?,
                tenant_id: r.try_get("tenant_id")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                ip: r.try_get("ip")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// What a request learned about itself for its audit entry: filled as it is handled
/// (the session's user, the tenant access was granted to, a login's email), read by
/// [`capture`] once it is answered. Cheap to clone; lives in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<Mutex<Note>>);

#[derive(Debug, Default)]
struct Note {
    actor_id: Option<String>,
    actor_email: Option<String>,
    tenant_id: Option<String>,
    target: Option<String>,
    detail: Option<String>,
}

impl Slot {
    fn with(&self, f: impl FnOnce(&mut Note)) {
        if let Ok(mut note) = self.0.lock() {
            f(&mut note);
        }
    }

    /// The request was made by `user` (a tenant's user acts on their tenant).
    pub fn actor(&self, user: &User) {
        self.with(|n| {
            n.actor_id = Some(user.id.clone());
            n.actor_email = Some(user.email.clone());
            if n.tenant_id.is_none() {
                n.tenant_id.clone_from(&user.tenant_id);
            }
        });
    }

    /// Access was granted to `tenant`.
    pub fn tenant(&self, tenant: &str) {
        self.with(|n| n.tenant_id = Some(tenant.to_owned()));
    }

    /// Someone tried to sign in as `email`.
    pub fn login_email(&self, email: &str) {
        self.with(|n| {
            if n.actor_email.is_none() {
                n.actor_email = Some(email.trim().to_lowercase());
            }
        });
    }

    /// What the action was done to, when the route's ids do not say.
    pub fn target(&self, target: impl Into<String>) {
        let target = target.into();
        self.with(|n| n.target = Some(target));
    }

    /// The request created `id`, of `tenant` (a new tenant is its own).
    pub fn created(&self, id: &str, tenant: Option<&str>) {
        self.with(|n| {
            n.target = Some(id.to_owned());
            if let Some(t) = tenant {
                n.tenant_id = Some(t.to_owned());
            }
        });
    }

    /// A few words more; never a value.
    pub fn detail(&self, detail: impl Into<String>) {
        let detail = detail.into();
        self.with(|n| n.detail = Some(detail));
    }
}

/// The audited routes (method, route template) and what they are called. A route
/// here is recorded when it succeeds; the login routes also when they fail.
pub const ACTIONS: &[(&str, &str, &str)] = &[
    ("POST", "/api/auth/login", "login"),
    ("POST", "/login", "login"),
    ("POST", "/api/auth/logout", "logout"),
    ("POST", "/logout", "logout"),
    ("PATCH", "/api/auth/me", "user.profile"),
    ("POST", "/calls/phone", "user.profile"),
    ("POST", "/api/admin/tenants", "tenant.create"),
    ("POST", "/admin/tenants", "tenant.create"),
    ("PATCH", "/api/admin/tenants/{id}", "tenant.update"),
    ("PUT", "/api/admin/tenants/{id}", "tenant.update"),
    ("POST", "/admin/tenants/{id}", "tenant.update"),
    ("DELETE", "/api/admin/tenants/{id}", "tenant.delete"),
    ("POST", "/admin/tenants/{id}/delete", "tenant.delete"),
    ("POST", "/api/admin/users", "user.create"),
    ("POST", "/admin/users", "user.create"),
    ("PATCH", "/api/admin/users/{id}", "user.update"),
    ("PUT", "/api/admin/users/{id}", "user.update"),
    ("DELETE", "/api/admin/users/{id}", "user.delete"),
    ("POST", "/admin/users/{id}/delete", "user.delete"),
    (
        "PUT",
        "/api/companies/{company_id}/twilio/config",
        "settings.update",
    ),
    ("POST", "/settings", "settings.update"),
    ("POST", "/api/twilio/connect", "number.connect"),
    ("POST", "/admin/numbers/connect", "number.connect"),
    (
        "PATCH",
        "/api/twilio/disconnect/{clinic_id}",
        "number.disconnect",
    ),
    ("POST", "/admin/numbers/disconnect", "number.disconnect"),
    (
        "PATCH",
        "/api/twilio/update-message/{clinic_id}",
        "number.message",
    ),
    ("POST", "/admin/numbers/message", "number.message"),
    ("POST", "/api/twilio/numbers/purchase", "number.purchase"),
    ("POST", "/admin/numbers/buy", "number.purchase"),
    ("POST", "/api/telephony/provision-phone", "number.purchase"),
    ("DELETE", "/api/twilio/numbers/{sid}", "number.release"),
    (
        "POST",
        "/api/twilio/numbers/{sid}/release",
        "number.release",
    ),
    ("POST", "/admin/numbers/release", "number.release"),
    (
        "POST",
        "/api/twilio/numbers/fix-webhooks",
        "number.fix-webhooks",
    ),
    ("POST", "/admin/health/fix", "number.fix-webhooks"),
    ("DELETE", "/api/twilio/call-logs", "call.delete"),
    ("DELETE", "/api/twilio/call-logs/{call_sid}", "call.delete"),
    ("POST", "/call-logs/{call_sid}/delete", "call.delete"),
    (
        "PUT",
        "/api/twilio/call-logs/{call_sid}/classification",
        "call.correct",
    ),
    (
        "POST",
        "/call-logs/{call_sid}/classification",
        "call.correct",
    ),
    ("DELETE", "/api/contacts/{id}", "contact.delete"),
    ("POST", "/contacts/{id}/delete", "contact.delete"),
    ("DELETE", "/api/appointments/{id}", "appointment.delete"),
    ("DELETE", "/api/staff-members/{id}", "staff.delete"),
    ("POST", "/api/admin/jobs/{id}/retry", "job.retry"),
    ("POST", "/admin/jobs/{id}/retry", "job.retry"),
    ("POST", "/api/admin/jobs/{id}/discard", "job.discard"),
    ("POST", "/admin/jobs/{id}/discard", "job.discard"),
    (
        "GET",
        "/api/twilio/call-logs/corrections.jsonl",
        "export.corrections",
    ),
    ("GET", "/call-logs/export.csv", "export.calls"),
    (
        "GET",
        "/api/twilio/recording/{recording_sid}",
        "recording.play",
    ),
    ("GET", "/api/twilio/voicemail/{call_sid}", "voicemail.play"),
    ("POST", "/api/callers/forget", "caller.forget"),
    ("POST", "/contacts/{id}/forget", "caller.forget"),
];

/// The action a request to `route` with `method` is recorded as, if audited.
pub fn action_for(method: &Method, route: &str) -> Option<&'static str> {
    ACTIONS
        .iter()
        .find(|(m, r, _)| *r == route && method.as_str() == *m)
        .map(|(_, _, action)| *action)
}

/// Whether a request that read from `range` starts a playback (a player's later range
/// requests for the same audio are not new playbacks).
fn starts_playback(range: Option<&str>) -> bool {
    match range.and_then(|r| r.strip_prefix("bytes=")) {
        None => true,
        Some(spec) => spec.trim_start().starts_with("0-"),
    }
}

/// The layer: gives each request a [`Slot`] and, once an audited request is answered,
/// records it. An audited request that failed (4xx, 5xx) is not recorded, but for
/// logins, whose failures are the point.
pub async fn capture(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // Most requests are not audited: decide before allocating anything.
    let Some((action, route)) = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| action_for(request.method(), p.as_str()).map(|a| (a, p.as_str().to_owned())))
    else {
        return next.run(request).await;
    };
    let is_play = action.ends_with(".play");
    let playback = starts_playback(
        request
            .headers()
            .get(axum::http::header::RANGE)
            .and_then(|v| v.to_str().ok()),
    );
    let params: Vec<(String, String)> = {
        let (mut parts, body) = request.into_parts();
        let params =
            <RawPathParams as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        request = Request::from_parts(parts, body);
        params
    };
    let target = Some(
        params
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
    .filter(|t| !t.is_empty());
    // Admin routes on a tenant or a user concern that tenant (a user's, looked up
    // before a delete can remove it).
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone());
    let mut named_tenant = id.clone().filter(|_| route.contains("/tenants/"));
    let named_user = id.filter(|_| route.contains("/users/"));
    if let Some(user) = named_user
        && let Ok(user) = crate::users::get(&state.db, &user).await
    {
        named_tenant = user.tenant_id;
    }
    let ip = crate::access::ClientAddress::of(&request, &state).map(|ip| ip.to_string());
    let slot = Slot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let status = response.status();
    let is_login = action == "login";
    let action = if status.is_success() || status.is_redirection() {
        if is_play && !playback {
            return response;
        }
        action.to_owned()
    } else if is_login
        // A portal login that failed answers 401 with the form again; the API 401 too.
        && matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        )
    {
        "login.failed".to_owned()
    } else {
        return response;
    };
    let mut note = slot
        .0
        .lock()
        .map(|mut note| std::mem::take(&mut *note))
        .unwrap_or_default();
    if let Some(tenant) = named_tenant {
        note.tenant_id = Some(tenant);
    }
    if action == "login.failed"
        && note.tenant_id.is_none()
        && let Some(email) = &note.actor_email
    {
        // A failed login to a tenant's account is that tenant's to see.
        if let Ok(Some((user, _))) = crate::users::find_by_email(&state.db, email).await {
            note.tenant_id = user.tenant_id;
        }
    }
    let entry = NewEntry {
        actor_id: note.actor_id,
        actor_email: note.actor_email,
        tenant_id: note.tenant_id,
        action,
        target: note.target.or(target),
        ip,
        detail: note.detail,
    };
    if let Err(e) = record(&state.db, entry).await {
        tracing::error!(error = %e, "could not write an audit entry");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audited_routes_are_found_by_method_and_template() {
        assert_eq!(
            action_for(&Method::DELETE, "/api/admin/tenants/{id}"),
            Some("tenant.delete")
        );
        assert_eq!(action_for(&Method::GET, "/api/admin/tenants/{id}"), None);
        assert_eq!(
            action_for(&Method::GET, "/api/twilio/recording/{recording_sid}"),
            Some("recording.play")
        );
    }

    #[test]
    fn only_the_first_range_of_an_audio_file_is_a_playback() {
        assert!(starts_playback(None));
        assert!(starts_playback(Some("bytes=0-")));
        assert!(starts_playback(Some("bytes=0-1023")));
        assert!(!starts_playback(Some("bytes=65536-")));
    }
}
