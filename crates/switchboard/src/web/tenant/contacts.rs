//! Contacts: search, add, edit, delete.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};

use crate::error::AppError;
use crate::state::AppState;
use crate::web::forms::{Errors, FormData};
use crate::web::{Chrome, PageResult, PageUser, WebError};

#[derive(Template, WebTemplate)]
#[template(path = "contacts.html")]
pub(super) struct ContactsPage {
    chrome: Chrome,
    contacts: Vec<crate::contacts::Contact>,
    q: String,
    form: ContactForm,
    errors: Errors,
    notice: Option<String>,
    /// The user may open the Calls page: every contact gets a call button.
    can_call: bool,
}

#[derive(Default)]
pub(super) struct ContactForm {
    name: String,
    phone: String,
    email: String,
    notes: String,
}

#[derive(serde::Deserialize, Default)]
pub(super) struct ContactQuery {
    q: Option<String>,
    added: Option<String>,
    saved: Option<String>,
    deleted: Option<String>,
    forgotten: Option<String>,
}

pub(super) async fn contacts_page(
    state: &AppState,
    user: &PageUser,
    tenant: &str,
    q: Option<String>,
    form: ContactForm,
    errors: Errors,
) -> Result<ContactsPage, WebError> {
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    Ok(ContactsPage {
        chrome: Chrome::for_user(state, user, "Contacts", "/contacts").await?,
        contacts: crate::contacts::list(&state.db, tenant, q.as_deref()).await?,
        q: q.unwrap_or_default(),
        form,
        errors,
        notice: None,
        can_call: user.0.user.may_open("calls"),
    })
}

pub(super) async fn contacts(
    State(state): State<AppState>,
    user: PageUser,
    q: Result<Query<ContactQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let Query(q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut page = contacts_page(
        &state,
        &user,
        &tenant,
        q.q,
        ContactForm::default(),
        Errors::none(),
    )
    .await?;
    page.notice = if q.added.is_some() {
        Some("Contact added.".to_owned())
    } else if q.saved.is_some() {
        Some("Contact saved.".to_owned())
    } else if q.forgotten.is_some() {
        Some("Caller forgotten: their texts and contact are deleted, and their recordings and transcripts are being deleted here and at Twilio.".to_owned())
    } else {
        q.deleted.map(|_| "Contact deleted.".to_owned())
    };
    Ok(page.into_response())
}

pub(super) async fn add_contact(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let typed = ContactForm::typed(&form);
    let new = crate::contacts::NewContact {
        name: typed.name.clone(),
        phone: typed.phone.clone(),
        email: form.text("email"),
        notes: form.text("notes"),
        tenant_id: None,
    };
    match crate::contacts::create(&state.db, &tenant, new).await {
        Ok(_) => Ok(Redirect::to("/contacts?added=1").into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            let page =
                contacts_page(&state, &user, &tenant, None, typed, Errors::from_app(&e)).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "contact.html")]
pub(super) struct ContactPage {
    chrome: Chrome,
    id: String,
    form: ContactForm,
    errors: Errors,
    timeline: Vec<TimelineEntry>,
    calls_href: String,
    messages_href: String,
    /// The account owner may forget this caller.
    can_forget: bool,
    /// The number, to repeat when forgetting.
    phone: String,
}

/// One call or text with a contact, for its timeline.
pub(super) struct TimelineEntry {
    at: i64,
    when: String,
    call: bool,
    inbound: bool,
    title: String,
    detail: String,
}

/// Most entries of each kind on a contact's timeline.
const TIMELINE_EACH: i64 = 50;

/// A contact's calls and texts, newest first, as one timeline.
async fn timeline(
    state: &AppState,
    tenant: &crate::tenants::TenantId,
    phone: &str,
) -> Result<Vec<TimelineEntry>, AppError> {
    let tz = crate::calls::rollups::tenant_zone(&state.db, tenant).await?;
    let filter = crate::calls::CallFilter {
        q: Some(phone.to_owned()),
        limit: Some(TIMELINE_EACH),
        ..Default::default()
    };
    let scope = crate::calls::Scope::One(tenant.clone());
    let (calls, ..) = crate::calls::list(&state.db, &scope, &filter, &tz).await?;
    let mut entries: Vec<TimelineEntry> = calls
        .into_iter()
        .filter(|c| c.from.as_deref() == Some(phone) || c.to.as_deref() == Some(phone))
        .map(|c| {
            let at = c
                .started_at
                .parse::<jiff::Timestamp>()
                .map_or(0, |t| t.as_millisecond());
            let outcome = match c.outcome.as_str() {
                "answered" => format!("Answered, {} talk", crate::web::mmss(c.duration)),
                "voicemail" => "Missed, left a voicemail".to_owned(),
                "missed" => "Missed".to_owned(),
                _ => "In progress".to_owned(),
            };
            let verdict = match c.appointment_booked {
                Some(true) => " · Appointment booked",
                Some(false) => " · No appointment",
                None => "",
            };
            TimelineEntry {
                at,
                when: super::local_time(&c.started_at, &tz),
                call: true,
                inbound: !c.is_outbound(),
                title: format!("{outcome}{verdict}"),
                detail: c.summary_text.unwrap_or_default(),
            }
        })
        .collect();
    for m in crate::messaging::conversation(&state.db, tenant, phone, TIMELINE_EACH).await? {
        let inbound = m.direction == "inbound";
        entries.push(TimelineEntry {
            at: m.created_at,
            when: super::local_time(&crate::db::rfc3339(m.created_at), &tz),
            call: false,
            inbound,
            title: if inbound {
                "Text received".to_owned()
            } else {
                format!("Text sent · {}", m.status)
            },
            detail: m.body,
        });
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    Ok(entries)
}

impl ContactForm {
    fn of(c: crate::contacts::Contact) -> Self {
        Self {
            name: c.name,
            phone: c.phone,
            email: c.email.unwrap_or_default(),
            notes: c.notes.unwrap_or_default(),
        }
    }

    fn typed(form: &FormData) -> Self {
        let field = |name: &str| form.get(name).unwrap_or_default().to_owned();
        Self {
            name: field("name"),
            phone: field("phone"),
            email: field("email"),
            notes: field("notes"),
        }
    }
}

pub(super) async fn contact_page(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let contact = crate::contacts::get(&state.db, &tenant, &id).await?;
    let title = contact.name.clone();
    let page = with_history(&state, &user, &tenant, &title, contact, |c| {
        (ContactForm::of(c), Errors::none())
    })
    .await?;
    Ok(page.into_response())
}

/// The contact's page, with the calls and texts of its stored number; `form` decides
/// what the fields show (the stored contact, or what was typed).
async fn with_history(
    state: &AppState,
    user: &PageUser,
    tenant: &crate::tenants::TenantId,
    title: &str,
    contact: crate::contacts::Contact,
    form: impl FnOnce(crate::contacts::Contact) -> (ContactForm, Errors),
) -> Result<ContactPage, WebError> {
    let timeline = timeline(state, tenant, &contact.phone).await?;
    let phone_q: String = url::form_urlencoded::byte_serialize(contact.phone.as_bytes()).collect();
    let id = contact.id.clone();
    let phone = contact.phone.clone();
    let (form, errors) = form(contact);
    Ok(ContactPage {
        chrome: Chrome::for_user(state, user, title, "/contacts").await?,
        id,
        timeline,
        calls_href: format!("/call-logs?q={phone_q}"),
        messages_href: format!("/messages?with={phone_q}"),
        can_forget: user.0.user.role == crate::users::Role::Customer,
        phone,
        form,
        errors,
    })
}

pub(super) async fn save_contact(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    let change = crate::contacts::ContactUpdate {
        name: Some(form.get("name").unwrap_or_default().to_owned()),
        phone: Some(form.get("phone").unwrap_or_default().to_owned()),
        email: Some(form.text("email")),
        notes: Some(form.text("notes")),
    };
    match crate::contacts::update(&state.db, &tenant, &id, change).await {
        Ok(_) => Ok(Redirect::to("/contacts?saved=1").into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            // The history is the stored number's, whatever was typed.
            let stored = crate::contacts::get(&state.db, &tenant, &id).await?;
            let page = with_history(&state, &user, &tenant, "Contact", stored, |_| {
                (ContactForm::typed(&form), Errors::from_app(&e))
            })
            .await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn delete_contact(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    crate::contacts::delete(&state.db, &tenant, &id).await?;
    Ok(Redirect::to("/contacts?deleted=1").into_response())
}

/// `POST /contacts/{id}/forget` (`confirm`: the number again): the account owner
/// erases everything the caller left (see [`crate::retention::forget_caller`]).
pub(super) async fn forget_contact(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "contacts").await?;
    user.0.owned_tenant(&state, "contacts").await?;
    let contact = crate::contacts::get(&state.db, &tenant, &id).await?;
    let request = crate::retention::ForgetRequest {
        phone_number: contact.phone.clone(),
        confirm: form.get("confirm").unwrap_or_default().to_owned(),
        customer_id: None,
    };
    match crate::retention::forget_caller(&state.db, &tenant, &request).await {
        Ok(_) => Ok(Redirect::to("/contacts?forgotten=1").into_response()),
        Err(e @ AppError::Validation(_)) => {
            let page = with_history(&state, &user, &tenant, "Contact", contact, |c| {
                (ContactForm::of(c), Errors::from_app(&e))
            })
            .await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
