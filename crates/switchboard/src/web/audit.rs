//! The audit log in the portal: `/admin/audit` (every tenant's, for admins) and
//! `/activity` (an account owner's own tenant's), one page with filters.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use std::collections::HashMap;

use super::{Chrome, PageResult, PageUser};
use crate::audit::{Entry, Filter};
use crate::error::AppError;
use crate::state::AppState;

pub(super) fn router() -> crate::routes::Routes {
    crate::routes::Routes::new()
        .route("/admin/audit", get(admin_audit))
        .route("/activity", get(activity))
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    /// Where the filter form posts back.
    action_url: &'static str,
    entries: Vec<Entry>,
    /// Admins filter by tenant too, and see tenant names.
    admin: bool,
    tenants: Vec<(String, String)>,
    tenant: String,
    action: String,
    actor: String,
    error: Option<String>,
    /// Times are shown in the tenant's zone (an owner's), or UTC (the admin's, across
    /// accounts).
    zone: jiff::tz::TimeZone,
}

impl AuditPage {
    fn when(&self, at: &str) -> String {
        let local = super::tenant::local_time(at, &self.zone);
        if self.admin {
            format!("{local} UTC")
        } else {
            local
        }
    }

    fn tenant_name(&self, id: &Option<String>) -> String {
        match id {
            None => "—".to_owned(),
            Some(id) => self
                .tenants
                .iter()
                .find(|(t, _)| t == id)
                .map_or_else(|| id.clone(), |(_, name)| name.clone()),
        }
    }
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn filter_from(q: &Params) -> Filter {
    let get = |k: &str| {
        q.as_ref()
            .ok()
            .and_then(|Query(q)| q.get(k))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Filter {
        tenant_id: get("tenantId"),
        action: get("action"),
        actor: get("actor"),
        limit: Some(200),
        ..Filter::default()
    }
}

async fn render(
    state: &AppState,
    user: &PageUser,
    filter: Filter,
    tenant: Option<&str>,
    title: &str,
    current: &'static str,
) -> PageResult {
    let admin = tenant.is_none();
    let (entries, error) = match crate::audit::list(&state.db, &filter, tenant).await {
        Ok(entries) => (entries, None),
        Err(AppError::Validation(fields)) => (
            Vec::new(),
            Some(fields.into_values().collect::<Vec<_>>().join("; ")),
        ),
        Err(e) => return Err(e.into()),
    };
    let zone = match tenant {
        Some(t) => crate::calls::rollups::tenant_zone(&state.db, t).await?,
        None => jiff::tz::TimeZone::UTC,
    };
    let tenants = if admin {
        crate::tenants::list(&state.db)
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect()
    } else {
        Vec::new()
    };
    Ok(AuditPage {
        chrome: Chrome::for_user(state, user, title, current).await?,
        action_url: current,
        entries,
        admin,
        tenants,
        tenant: filter.tenant_id.unwrap_or_default(),
        action: filter.action.unwrap_or_default(),
        actor: filter.actor.unwrap_or_default(),
        error,
        zone,
    }
    .into_response())
}

async fn admin_audit(State(state): State<AppState>, user: PageUser, q: Params) -> PageResult {
    user.admin()?;
    render(
        &state,
        &user,
        filter_from(&q),
        None,
        "Audit log",
        "/admin/audit",
    )
    .await
}

/// An account owner's view of what was done in their account.
async fn activity(State(state): State<AppState>, user: PageUser, q: Params) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    user.0.owned_tenant(&state, "settings").await?;
    let mut filter = filter_from(&q);
    filter.tenant_id = None;
    render(
        &state,
        &user,
        filter,
        Some(&tenant),
        "Activity",
        "/activity",
    )
    .await
}
