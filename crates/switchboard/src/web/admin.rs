//! The platform operator's pages: tenants, users, Twilio numbers, unrouted calls, health.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use std::collections::HashMap;

use super::forms::{Errors, FormData};
use super::{Chrome, PageResult, PageUser};
use crate::calls::UnroutedCall;
use crate::error::AppError;
use crate::provisioning::{AccountNumber, Connect};
use crate::state::AppState;
use crate::tenants::{self, NewTenant, Tenant, TenantUpdate};
use crate::users::{self, NewUser, Role, User};

pub(super) fn router() -> crate::routes::Routes {
    crate::routes::Routes::new()
        .route("/admin", get(|| async { Redirect::to("/admin/tenants") }))
        .route("/admin/tenants", get(tenants_page).post(create_tenant))
        .route("/admin/tenants/{id}", get(tenant_page).post(update_tenant))
        .route("/admin/tenants/{id}/delete", post(delete_tenant))
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/{id}/delete", post(delete_user))
        .route("/admin/numbers", get(numbers_page))
        .route("/admin/numbers/connect", post(connect_number))
        .route("/admin/numbers/message", post(update_message))
        .route("/admin/numbers/disconnect", post(disconnect_number))
        .route("/admin/numbers/buy", post(buy_number))
        .route("/admin/numbers/release", post(release_number))
        .route("/admin/unrouted", get(unrouted_page))
        .route("/admin/health", get(health_page))
        .route("/admin/health/fix", axum::routing::post(fix_webhooks))
        .route("/admin/jobs", get(jobs_page))
        .route("/admin/jobs/{id}/retry", post(retry_job))
        .route("/admin/jobs/{id}/discard", post(discard_job))
}

type Flash = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn flash(q: Flash, messages: &[(&str, &str)]) -> Option<String> {
    let Query(q) = q.ok()?;
    messages
        .iter()
        .find(|(key, _)| q.contains_key(*key))
        .map(|(_, text)| (*text).to_owned())
}

// ----- tenants -----

#[derive(Template, WebTemplate)]
#[template(path = "admin_tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    tenants: Vec<TenantRow>,
    name: String,
    timezone: String,
    errors: Errors,
    notice: Option<String>,
}

struct TenantRow {
    tenant: Tenant,
    numbers: Vec<String>,
    users: usize,
}

async fn tenant_rows(state: &AppState) -> Result<Vec<TenantRow>, AppError> {
    let all_users = users::list(&state.db, None).await?;
    let assignments = crate::numbers::assignments(&state.db).await?;
    Ok(tenants::list(&state.db)
        .await?
        .into_iter()
        .map(|tenant| TenantRow {
            numbers: assignments
                .iter()
                .filter(|(_, t)| *t == tenant.id)
                .map(|(n, _)| n.clone())
                .collect(),
            users: all_users
                .iter()
                .filter(|u| u.tenant_id.as_deref() == Some(tenant.id.as_str()))
                .count(),
            tenant,
        })
        .collect())
}

async fn tenants_page(State(state): State<AppState>, user: PageUser, q: Flash) -> PageResult {
    user.admin()?;
    Ok(TenantsPage {
        chrome: Chrome::for_user(&state, &user, "Tenants", "/admin/tenants").await?,
        tenants: tenant_rows(&state).await?,
        name: String::new(),
        timezone: "America/New_York".into(),
        errors: Errors::none(),
        notice: flash(
            q,
            &[
                ("created", "Tenant created."),
                ("deleted", "Tenant deleted."),
            ],
        ),
    }
    .into_response())
}

async fn create_tenant(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    user.admin()?;
    let new = NewTenant {
        name: form.get("name").unwrap_or_default().to_owned(),
        timezone: form.text("timezone"),
    };
    match tenants::create(&state.db, new).await {
        Ok(t) => {
            if let Some(slot) = &user.0.audit {
                slot.created(&t.id, Some(&t.id));
            }
            tracing::info!(tenant = %t.id, by = %user.0.user.id, "tenant created in the portal");
            Ok(Redirect::to(&format!("/admin/tenants/{}?created=1", t.id)).into_response())
        }
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            Ok((
                e.status(),
                TenantsPage {
                    chrome: Chrome::for_user(&state, &user, "Tenants", "/admin/tenants").await?,
                    tenants: tenant_rows(&state).await?,
                    name: form.get("name").unwrap_or_default().to_owned(),
                    timezone: form.get("timezone").unwrap_or_default().to_owned(),
                    errors: Errors::from_app(&e),
                    notice: None,
                },
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_tenant.html")]
struct TenantPage {
    chrome: Chrome,
    tenant: Tenant,
    name: String,
    timezone: String,
    numbers: Vec<crate::numbers::PhoneNumber>,
    users: Vec<User>,
    menu_message: String,
    errors: Errors,
    notice: Option<String>,
    subscription: String,
    subscription_statuses: &'static [&'static str],
    provisioning_error: Option<String>,
}

async fn tenant_view(
    state: &AppState,
    user: &PageUser,
    id: &str,
) -> Result<TenantPage, super::WebError> {
    let tenant = tenants::get(&state.db, id).await?;
    let config = crate::telephony::view(&state.db, id).await?;
    Ok(TenantPage {
        chrome: Chrome::for_user(state, user, &tenant.name, "/admin/tenants").await?,
        name: tenant.name.clone(),
        timezone: tenant.timezone.clone(),
        numbers: config.phone_numbers,
        users: users::list(&state.db, Some(id)).await?,
        menu_message: config.menu_message.unwrap_or_default(),
        subscription: tenant.subscription_status.clone(),
        subscription_statuses: tenants::SUBSCRIPTION_STATUSES,
        provisioning_error: crate::purchases::provisioning_error(state, id).await?,
        tenant,
        errors: Errors::none(),
        notice: None,
    })
}

async fn tenant_page(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    q: Flash,
) -> PageResult {
    user.admin()?;
    let mut page = tenant_view(&state, &user, &id).await?;
    page.notice = flash(
        q,
        &[
            (
                "created",
                "Tenant created. Next: add its owner and connect a number.",
            ),
            ("saved", "Tenant saved."),
        ],
    );
    Ok(page.into_response())
}

async fn update_tenant(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    user.admin()?;
    let before = tenants::get(&state.db, &id).await?;
    let change = TenantUpdate {
        name: Some(form.get("name").unwrap_or_default().to_owned()),
        timezone: Some(form.get("timezone").unwrap_or_default().to_owned()),
        subscription_status: form.text("subscriptionStatus"),
    };
    match tenants::update(&state.db, &id, change).await {
        Ok(after) => {
            if after.timezone != before.timezone {
                crate::calls::rollups::rebuild(&state.db, &id).await?;
            }
            crate::purchases::on_subscription_change(
                &state,
                &id,
                &before.subscription_status,
                &after.subscription_status,
            )
            .await?;
            Ok(Redirect::to(&format!("/admin/tenants/{id}?saved=1")).into_response())
        }
        Err(e @ AppError::Validation(_)) => {
            let mut page = tenant_view(&state, &user, &id).await?;
            page.name = form.get("name").unwrap_or_default().to_owned();
            page.timezone = form.get("timezone").unwrap_or_default().to_owned();
            page.subscription = form
                .get("subscriptionStatus")
                .unwrap_or_default()
                .to_owned();
            page.errors = Errors::from_app(&e);
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete_tenant(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    user.admin()?;
    tenants::delete(&state.db, &id).await?;
    tracing::info!(tenant = %id, by = %user.0.user.id, "tenant deleted in the portal");
    Ok(Redirect::to("/admin/tenants?deleted=1").into_response())
}

// ----- users -----

#[derive(Template, WebTemplate)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    me: String,
    users: Vec<(User, String)>,
    tenants: Vec<Tenant>,
    pages: Vec<&'static str>,
    form: UserForm,
    errors: Errors,
    notice: Option<String>,
}

#[derive(Default)]
struct UserForm {
    email: String,
    role: String,
    tenant_id: String,
    allowed_pages: Vec<String>,
    phone: String,
}

impl UserForm {
    fn allows(&self, page: &str) -> bool {
        self.allowed_pages.iter().any(|p| p == page)
    }
}

async fn users_view(
    state: &AppState,
    user: &PageUser,
    form: UserForm,
    errors: Errors,
    notice: Option<String>,
) -> Result<UsersPage, super::WebError> {
    let tenants = tenants::list(&state.db).await?;
    let users = users::list(&state.db, None)
        .await?
        .into_iter()
        .map(|u| {
            let tenant = u
                .tenant_id
                .as_ref()
                .and_then(|id| tenants.iter().find(|t| &t.id == id))
                .map(|t| t.name.clone())
                .unwrap_or_else(|| "—".into());
            (u, tenant)
        })
        .collect();
    Ok(UsersPage {
        chrome: Chrome::for_user(state, user, "Users", "/admin/users").await?,
        me: user.0.user.id.clone(),
        users,
        tenants,
        pages: users::PAGES.to_vec(),
        form,
        errors,
        notice,
    })
}

async fn users_page(State(state): State<AppState>, user: PageUser, q: Flash) -> PageResult {
    user.admin()?;
    let notice = flash(
        q,
        &[("created", "User created."), ("deleted", "User deleted.")],
    );
    let form = UserForm {
        role: "customer".into(),
        ..UserForm::default()
    };
    Ok(users_view(&state, &user, form, Errors::none(), notice)
        .await?
        .into_response())
}

async fn create_user(State(state): State<AppState>, user: PageUser, form: FormData) -> PageResult {
    user.admin()?;
    let typed = UserForm {
        email: form.get("email").unwrap_or_default().to_owned(),
        role: form.get("role").unwrap_or_default().to_owned(),
        tenant_id: form.get("tenantId").unwrap_or_default().to_owned(),
        allowed_pages: form.all("allowedPages"),
        phone: form.get("phone").unwrap_or_default().to_owned(),
    };
    let result = match Role::parse(&typed.role) {
        None => Err(AppError::field("role", "choose a role")),
        Some(role) => {
            users::create(
                &state.db,
                NewUser {
                    email: typed.email.clone(),
                    password: form.get("password").unwrap_or_default().to_owned(),
                    role,
                    tenant_id: (role != Role::Admin)
                        .then(|| typed.tenant_id.clone())
                        .filter(|t| !t.is_empty()),
                    allowed_pages: (role == Role::Receptionist)
                        .then(|| typed.allowed_pages.clone()),
                    phone: Some(typed.phone.clone()),
                },
            )
            .await
        }
    };
    match result {
        Ok(created) => {
            if let Some(slot) = &user.0.audit {
                slot.created(&created.id, created.tenant_id.as_deref());
            }
            tracing::info!(user = %created.id, by = %user.0.user.id, "user created in the portal");
            Ok(Redirect::to("/admin/users?created=1").into_response())
        }
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            let errors = Errors::from_app(&e);
            Ok((
                e.status(),
                users_view(&state, &user, typed, errors, None).await?,
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete_user(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    user.admin()?;
    if user.0.user.id == id {
        return Err(AppError::Conflict("you cannot delete your own account".into()).into());
    }
    users::delete(&state.db, &id).await?;
    tracing::info!(user = %id, by = %user.0.user.id, "user deleted in the portal");
    Ok(Redirect::to("/admin/users?deleted=1").into_response())
}

// ----- numbers -----

#[derive(Template, WebTemplate)]
#[template(path = "admin_numbers.html")]
struct NumbersPage {
    chrome: Chrome,
    numbers: Vec<AccountNumber>,
    load_error: Option<String>,
    tenants: Vec<Tenant>,
    connect: ConnectForm,
    messages: Vec<(Tenant, String)>,
    errors: Errors,
    notice: Option<String>,
    /// The search for numbers to buy, and what it found.
    search: crate::purchases::Search,
    offers: Vec<crate::purchases::Offer>,
    search_error: Option<String>,
}

#[derive(Default)]
struct ConnectForm {
    phone_number: String,
    clinic_id: String,
    forward_number: String,
    forward_number_new: String,
    forward_number_existing: String,
    menu_message: String,
}

async fn numbers_view(
    state: &AppState,
    user: &PageUser,
    connect: ConnectForm,
    errors: Errors,
    notice: Option<String>,
) -> Result<NumbersPage, super::WebError> {
    let (numbers, load_error) = match crate::provisioning::account_numbers(state, None).await {
        Ok(n) => (n, None),
        Err(AppError::BadGateway(why)) => (Vec::new(), Some(why)),
        Err(e) => return Err(e.into()),
    };
    let tenants = tenants::list(&state.db).await?;
    let mut messages = Vec::new();
    for t in &tenants {
        let config = crate::telephony::view(&state.db, &t.id).await?;
        if !config.phone_numbers.is_empty() {
            messages.push((t.clone(), config.menu_message.unwrap_or_default()));
        }
    }
    Ok(NumbersPage {
        chrome: Chrome::for_user(state, user, "Twilio numbers", "/admin/numbers").await?,
        numbers,
        load_error,
        tenants,
        connect,
        messages,
        errors,
        notice,
        search: crate::purchases::Search::default(),
        offers: Vec::new(),
        search_error: None,
    })
}

async fn numbers_page(State(state): State<AppState>, user: PageUser, q: Flash) -> PageResult {
    user.admin()?;
    let query = q
        .as_ref()
        .ok()
        .map(|Query(q)| q.clone())
        .unwrap_or_default();
    let notice = flash(
        q,
        &[
            (
                "connected",
                "Number connected: its calls now reach the tenant.",
            ),
            ("message", "Menu message saved."),
            (
                "disconnected",
                "Number disconnected. Its calls will show under unrouted calls.",
            ),
            ("bought", "Number bought and connected to the tenant."),
            (
                "released",
                "Number released on Twilio. Its call history stays.",
            ),
        ],
    );
    let mut page = numbers_view(
        &state,
        &user,
        ConnectForm::default(),
        Errors::none(),
        notice,
    )
    .await?;
    if query.contains_key("search") {
        let text = |k: &str| {
            query
                .get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        page.search = crate::purchases::Search {
            area_code: text("areaCode"),
            contains: text("contains"),
            sms_enabled: query.contains_key("smsEnabled").then_some(true),
            ..Default::default()
        };
        match crate::purchases::search(&state, None, &page.search).await {
            Ok(offers) => page.offers = offers,
            Err(e @ (AppError::Validation(_) | AppError::BadGateway(_))) => {
                page.search_error = Some(match &e {
                    AppError::Validation(fields) => fields
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(page.into_response())
}

/// `POST /admin/numbers/buy` (`phoneNumber`, `clinicId`): buys a searched number into a tenant.
async fn buy_number(State(state): State<AppState>, user: PageUser, form: FormData) -> PageResult {
    user.admin()?;
    let request = crate::purchases::Purchase {
        phone_number: form.get("phoneNumber").unwrap_or_default().to_owned(),
        clinic_id: form.get("clinicId").unwrap_or_default().to_owned(),
        friendly_name: form.text("friendlyName"),
        ..Default::default()
    };
    match crate::purchases::purchase(&state, request).await {
        Ok(_) => Ok(Redirect::to("/admin/numbers?bought=1").into_response()),
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::BadGateway(_))) => {
            numbers_again(&state, &user, ConnectForm::default(), &e).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/numbers/release` (`sid`): releases a number on the platform's account.
async fn release_number(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    user.admin()?;
    let sid = form.get("sid").unwrap_or_default().to_owned();
    match crate::purchases::release(&state, None, &sid).await {
        Ok(_) => Ok(Redirect::to("/admin/numbers?released=1").into_response()),
        Err(e @ AppError::BadGateway(_)) => {
            numbers_again(&state, &user, ConnectForm::default(), &e).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn connect_number(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    user.admin()?;
    let field = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let typed = ConnectForm {
        phone_number: field("phoneNumber"),
        clinic_id: field("clinicId"),
        forward_number: field("forwardNumber"),
        forward_number_new: field("forwardNumberNew"),
        forward_number_existing: field("forwardNumberExisting"),
        menu_message: field("menuMessage"),
    };
    let request = Connect {
        clinic_id: typed.clinic_id.clone(),
        phone_number: typed.phone_number.clone(),
        friendly_name: form.text("friendlyName"),
        forward_number: form.text("forwardNumber"),
        forward_number_new: form.text("forwardNumberNew"),
        forward_number_existing: form.text("forwardNumberExisting"),
        menu_message: form.text("menuMessage"),
    };
    match crate::provisioning::connect(&state, request).await {
        Ok(_) => Ok(Redirect::to("/admin/numbers?connected=1").into_response()),
        Err(
            e @ (AppError::Validation(_)
            | AppError::Conflict(_)
            | AppError::Taken { .. }
            | AppError::BadGateway(_)),
        ) => numbers_again(&state, &user, typed, &e).await,
        Err(e) => Err(e.into()),
    }
}

/// The numbers page again, with what went wrong.
async fn numbers_again(
    state: &AppState,
    user: &PageUser,
    typed: ConnectForm,
    e: &AppError,
) -> PageResult {
    let page = numbers_view(state, user, typed, Errors::from_app(e), None).await?;
    Ok((e.status(), page).into_response())
}

/// The tenant a form names in `clinicId`, for an admin; unknown ids are 404.
async fn named_tenant(
    state: &AppState,
    user: &PageUser,
    form: &FormData,
) -> Result<String, super::WebError> {
    user.admin()?;
    let tenant = form.get("clinicId").unwrap_or_default().to_owned();
    user.0.tenant_scope(state, &tenant, None).await?;
    Ok(tenant)
}

async fn update_message(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = named_tenant(&state, &user, &form).await?;
    match crate::provisioning::update_message(&state, &tenant, form.text("menuMessage")).await {
        Ok(_) => Ok(Redirect::to("/admin/numbers?message=1").into_response()),
        Err(e @ AppError::Validation(_)) => {
            numbers_again(&state, &user, ConnectForm::default(), &e).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn disconnect_number(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = named_tenant(&state, &user, &form).await?;
    crate::provisioning::disconnect(&state, &tenant, form.get("phoneNumber")).await?;
    Ok(Redirect::to("/admin/numbers?disconnected=1").into_response())
}

// ----- unrouted calls and health -----

#[derive(Template, WebTemplate)]
#[template(path = "admin_unrouted.html")]
struct UnroutedPage {
    chrome: Chrome,
    calls: Vec<UnroutedCall>,
}

async fn unrouted_page(State(state): State<AppState>, user: PageUser) -> PageResult {
    user.admin()?;
    Ok(UnroutedPage {
        chrome: Chrome::for_user(&state, &user, "Unrouted calls", "/admin/unrouted").await?,
        calls: crate::calls::unrouted(&state.db, 200).await?,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_health.html")]
struct HealthPage {
    chrome: Chrome,
    report: crate::health::Report,
    tenants: usize,
    users: usize,
    unrouted: usize,
    version: &'static str,
    public_url: String,
    notice: Option<String>,
}

fn level_label(level: impl std::borrow::Borrow<crate::health::Level>) -> &'static str {
    match *level.borrow() {
        crate::health::Level::Healthy => "Healthy",
        crate::health::Level::Degraded => "Degraded",
        crate::health::Level::Down => "Down",
        crate::health::Level::NotConfigured => "Not configured",
    }
}

fn level_class(level: impl std::borrow::Borrow<crate::health::Level>) -> &'static str {
    match *level.borrow() {
        crate::health::Level::Healthy => "good",
        crate::health::Level::Degraded => "warn",
        crate::health::Level::Down => "bad",
        crate::health::Level::NotConfigured => "muted",
    }
}

async fn health_page(State(state): State<AppState>, user: PageUser, q: Flash) -> PageResult {
    user.admin()?;
    let notice = flash(q, &[("fixed", "The number points at Switchboard again.")]);
    Ok(HealthPage {
        chrome: Chrome::for_user(&state, &user, "Health", "/admin/health").await?,
        report: crate::health::report(&state).await?,
        tenants: tenants::list(&state.db).await?.len(),
        users: users::list(&state.db, None).await?.len(),
        unrouted: crate::calls::unrouted(&state.db, 200).await?.len(),
        version: env!("CARGO_PKG_VERSION"),
        public_url: state.config.public_url.clone(),
        notice,
    }
    .into_response())
}

/// `POST /admin/health/fix` (`phoneNumber`, `tenantId`): points a drifted number back.
async fn fix_webhooks(State(state): State<AppState>, user: PageUser, form: FormData) -> PageResult {
    user.admin()?;
    let number = form.get("phoneNumber").unwrap_or_default().to_owned();
    let tenant = form.get("tenantId").unwrap_or_default().to_owned();
    if !crate::tenants::exists(&state.db, &tenant).await? {
        return Err(AppError::NotFound.into());
    }
    if !crate::health::fix_webhooks(&state, &tenant, &number).await? {
        return Err(AppError::field("phoneNumber", "is not on its tenant's Twilio account").into());
    }
    Ok(Redirect::to("/admin/health?fixed=1").into_response())
}

// ----- jobs -----

#[derive(Template, WebTemplate)]
#[template(path = "admin_jobs.html")]
struct JobsPage {
    chrome: Chrome,
    jobs: Vec<crate::jobs::Job>,
    total: i64,
    state: String,
    notice: Option<String>,
}

async fn jobs_page(State(state): State<AppState>, user: PageUser, q: Flash) -> PageResult {
    user.admin()?;
    let wanted = q
        .as_ref()
        .ok()
        .and_then(|Query(q)| q.get("state").cloned())
        .unwrap_or_default();
    let filter = crate::jobs::JobState::parse(&wanted);
    let notice = flash(
        q,
        &[
            ("retried", "The job will run again shortly."),
            ("discarded", "The job was discarded."),
        ],
    );
    let (jobs, total) = crate::jobs::list(&state.db, filter, 100, 0).await?;
    Ok(JobsPage {
        chrome: Chrome::for_user(&state, &user, "Jobs", "/admin/jobs").await?,
        jobs,
        total,
        state: if filter.is_some() {
            wanted
        } else {
            String::new()
        },
        notice,
    }
    .into_response())
}

async fn retry_job(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    user.admin()?;
    crate::jobs::retry(&state.db, &id).await?;
    tracing::info!(job = %id, by = %user.0.user.id, "job retried in the portal");
    Ok(Redirect::to("/admin/jobs?retried=1").into_response())
}

async fn discard_job(
    State(state): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
) -> PageResult {
    user.admin()?;
    crate::jobs::discard(&state.db, &id).await?;
    tracing::info!(job = %id, by = %user.0.user.id, "job discarded in the portal");
    Ok(Redirect::to("/admin/jobs?discarded=1").into_response())
}
