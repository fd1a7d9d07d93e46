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

/// A conversation as a row of the portal.
pub(super) struct ThreadRow {
    party: String,
    href: String,
    when: String,
    inbound: bool,
    number_label: String,
    body: String,
    count: i64,
    selected: bool,
    /// Texts from them since this user last opened the conversation.
    unread: i64,
}

/// One text of the open conversation.
pub(super) struct TextRow {
    when: String,
    inbound: bool,
    body: String,
    status: String,
    failure: Option<String>,
    media: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages.html")]
pub(super) struct MessagesPage {
    chrome: Chrome,
    rows: Vec<ThreadRow>,
    total: i64,
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    /// The open conversation: the other party and its texts.
    party: Option<String>,
    texts: Vec<TextRow>,
    reply: String,
    errors: crate::web::forms::Errors,
    notice: Option<String>,
    opted_out: bool,
}

#[derive(serde::Deserialize, Default)]
pub(super) struct Paging {
    offset: Option<i64>,
    with: Option<String>,
    sent: Option<String>,
}

fn thread_href(party: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(party.as_bytes()).collect();
    format!("/messages?with={q}")
}

/// The conversation a page opens, and its reply box as the user left it.
struct Open {
    party: Option<String>,
    reply: String,
    errors: crate::web::forms::Errors,
    notice: Option<String>,
}

/// The page: conversations, and the one asked for with its reply box.
async fn page(
    state: &AppState,
    user: &PageUser,
    tenant: &crate::tenants::TenantId,
    offset: i64,
    open: Open,
) -> Result<MessagesPage, crate::web::WebError> {
    let Open {
        party,
        reply,
        errors,
        notice,
    } = open;
    let chrome = Chrome::for_user(state, user, "Messages", "/messages").await?;
    let tz = calls::rollups::tenant_zone(&state.db, tenant).await?;
    let numbers = crate::numbers::list_for_tenant(&state.db, tenant).await?;
    let (threads, total) = crate::messaging::threads(&state.db, tenant, PAGE_SIZE, offset).await?;
    if let Some(p) = &party {
        crate::notifications::mark_thread_read(&state.db, &user.0.user.id, p).await?;
    }
    let parties: Vec<String> = threads.iter().map(|t| t.party.clone()).collect();
    let unread =
        crate::notifications::thread_unread(&state.db, &user.0.user.id, tenant, &parties).await?;
    let rows: Vec<ThreadRow> = threads
        .into_iter()
        .map(|t| {
            let inbound = t.last.direction == "inbound";
            let ours = if inbound { &t.last.to } else { &t.last.from };
            ThreadRow {
                href: thread_href(&t.party),
                selected: party.as_deref() == Some(t.party.as_str()),
                when: local_time(&crate::db::rfc3339(t.last.created_at), &tz),
                inbound,
                number_label: number_label(Some(ours), &numbers),
                body: t.last.body,
                count: t.count,
                unread: unread.get(&t.party).copied().unwrap_or(0),
                party: t.party,
            }
        })
        .collect();
    let texts = match &party {
        Some(p) => crate::messaging::conversation(&state.db, tenant, p, 200)
            .await?
            .into_iter()
            .map(|m| TextRow {
                when: local_time(&crate::db::rfc3339(m.created_at), &tz),
                inbound: m.direction == "inbound",
                status: match &m.error_code {
                    Some(code) => format!("{} (error {code})", m.status),
                    None => m.status.clone(),
                },
                failure: m.failure_reason,
                body: m.body,
                media: m.num_media,
            })
            .collect(),
        None => Vec::new(),
    };
    let opted_out = match &party {
        Some(p) => crate::messaging::opted_out_at(&state.db, tenant, p)
            .await?
            .is_some(),
        None => false,
    };
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
        party,
        texts,
        reply,
        errors,
        notice,
        opted_out,
    })
}

pub(super) async fn messages(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "messages").await?;
    let q = q.map_err(|e| AppError::BadRequest(e.body_text()))?.0;
    let offset = q.offset.unwrap_or(0).max(0);
    crate::notifications::mark_read(&state.db, &user.0.user.id, "messages").await?;
    let party = q
        .with
        .as_deref()
        .and_then(crate::numbers::E164::parse)
        .map(|n| n.as_str().to_owned());
    let notice = q.sent.map(|_| "Your text is on its way.".to_owned());
    let open = Open {
        party,
        reply: String::new(),
        errors: crate::web::forms::Errors::none(),
        notice,
    };
    Ok(page(&state, &user, &tenant, offset, open)
        .await?
        .into_response())
}

/// `POST /messages/reply`: texts the open conversation's party from the portal.
pub(super) async fn reply(
    State(state): State<AppState>,
    user: PageUser,
    form: crate::web::forms::FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "messages").await?;
    let to = form.get("to").unwrap_or_default().to_owned();
    let body = form.get("body").unwrap_or_default().to_owned();
    match crate::messaging::send_for_tenant(
        &state.db,
        &tenant,
        &to,
        &body,
        crate::messaging::SendOptions {
            sent_by: Some(&user.0.user.id),
            ..Default::default()
        },
    )
    .await
    {
        Ok((m, _)) => Ok(
            axum::response::Redirect::to(&format!("{}&sent=1", thread_href(&m.to))).into_response(),
        ),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_))) => {
            let party = crate::numbers::E164::parse(&to).map(|n| n.as_str().to_owned());
            let errors = crate::web::forms::Errors::from_app(&e);
            let open = Open {
                party,
                reply: body,
                errors,
                notice: None,
            };
            let page = page(&state, &user, &tenant, 0, open).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
