//! Messages: the tenant's texts.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;

use crate::calls;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::{Chrome, PageResult, PageUser};

use super::*;

/// A text as a row of the portal.
pub(super) struct MessageRow {
    when: String,
    inbound: bool,
    other_party: String,
    number_label: String,
    body: String,
    status: String,
    media: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages.html")]
pub(super) struct MessagesPage {
    chrome: Chrome,
    rows: Vec<MessageRow>,
    total: i64,
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub(super) struct Paging {
    offset: Option<i64>,
}

pub(super) async fn messages(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "messages").await?;
    let offset = q
        .map_err(|e| AppError::BadRequest(e.body_text()))?
        .0
        .offset
        .unwrap_or(0)
        .max(0);
    crate::notifications::mark_read(&state.db, &user.0.user.id, "messages").await?;
    let chrome = Chrome::for_user(&state, &user, "Messages", "/messages").await?;
    let tz = calls::rollups::tenant_zone(&state.db, &tenant).await?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let (texts, total) = crate::messaging::list(&state.db, &tenant, PAGE_SIZE, offset).await?;
    let rows: Vec<MessageRow> = texts
        .into_iter()
        .map(|m| {
            let inbound = m.direction == "inbound";
            let (other, ours) = if inbound {
                (m.from, m.to)
            } else {
                (m.to, m.from)
            };
            MessageRow {
                when: local_time(&crate::db::rfc3339(m.created_at), &tz),
                inbound,
                other_party: other,
                number_label: number_label(Some(&ours), &numbers),
                body: m.body,
                status: match m.error_code {
                    Some(code) => format!("{} (error {code})", m.status),
                    None => m.status,
                },
                media: m.num_media,
            }
        })
        .collect();
    let shown = i64::try_from(rows.len()).unwrap_or(0);
    Ok(MessagesPage {
        chrome,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        prev_href: (offset > 0)
            .then(|| format!("/messages?offset={}", (offset - PAGE_SIZE).max(0))),
        next_href: (offset + shown < total)
            .then(|| format!("/messages?offset={}", offset + PAGE_SIZE)),
        rows,
        total,
    }
    .into_response())
}
