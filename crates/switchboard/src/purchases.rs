//! Buying and releasing tracking numbers on Twilio, and a tenant's first number when it
//! asks for one (seed 004's `provision-phone`) or its subscription starts. Owns no
//! tables: numbers are attached through `numbers`, settings through `telephony`, and
//! the work runs as jobs.
//!
//! A purchase is one job whose dedupe key names the number and the tenant, so a double
//! submit, a retry after a timeout or two processes never buy twice; the job itself
//! first looks for the number on the account (a crash after Twilio sold it and before
//! we attached it), so running it again does not buy again either. Twilio's refusals
//! (21422: no longer available) end the job at once with Twilio's words.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult, FieldErrors};
use crate::jobs::{self, HandlerResult, Job, JobState, NewJob};
use crate::numbers::E164;
use crate::state::AppState;

/// The purchase job.
pub const PURCHASE: &str = "numbers.purchase";
/// The job that gives a tenant without a number its first one.
pub const PROVISION: &str = "numbers.provision";

/// How long a request waits for its purchase before answering 202.
const WAIT: Duration = Duration::from_secs(15);

/// A search for numbers to buy.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Search {
    /// ISO country (default US).
    #[serde(default)]
    pub country: Option<String>,
    /// Three digits.
    #[serde(default)]
    pub area_code: Option<String>,
    /// Digits the number contains.
    #[serde(default)]
    pub contains: Option<String>,
    /// Only numbers that can text.
    #[serde(default)]
    pub sms_enabled: Option<bool>,
    /// Only numbers that can take calls.
    #[serde(default)]
    pub voice_enabled: Option<bool>,
    /// Search this tenant's own account (admins; a tenant always searches its own).
    #[serde(default)]
    pub clinic_id: Option<String>,
}

/// What a number can do.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// Calls.
    pub voice: bool,
    /// Texts.
    pub sms: bool,
}

/// A number for sale.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// E.164.
    pub phone_number: String,
    /// `(555) 123-4567`.
    pub friendly_name: Option<String>,
    /// City.
    pub locality: Option<String>,
    /// State.
    pub region: Option<String>,
    /// Voice and SMS.
    pub capabilities: Capabilities,
}

fn check_search(s: &Search) -> AppResult<twilio::client::AvailableNumberSearch> {
    let mut errors = FieldErrors::new();
    let country = s
        .country
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or("US")
        .to_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.insert("country".into(), "must be a two-letter country code".into());
    }
    let area_code = s
        .area_code
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if area_code.is_some_and(|a| a.len() != 3 || !a.bytes().all(|b| b.is_ascii_digit())) {
        errors.insert("areaCode".into(), "must be three digits".into());
    }
    let contains = s
        .contains
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if contains
        .is_some_and(|c| c.len() > 16 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*'))
    {
        errors.insert(
            "contains".into(),
            "must be up to 16 digits, letters or *".into(),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(twilio::client::AvailableNumberSearch {
        country_code: country,
        area_code: area_code.map(str::to_owned),
        contains: contains.map(str::to_owned),
        sms_enabled: s.sms_enabled,
        voice_enabled: s.voice_enabled,
        page_size: Some(20),
        ..Default::default()
    })
}

fn twilio_error(what: &str, e: &twilio::client::ClientError) -> AppError {
    AppError::BadGateway(format!("Twilio failed while {what}: {e}"))
}

/// Numbers for sale on the tenant's account (or the platform's), as Twilio offers them.
pub async fn search(state: &AppState, tenant: Option<&str>, s: &Search) -> AppResult<Vec<Offer>> {
    let search = check_search(s)?;
    let client = crate::provisioning::client_for(state, tenant).await?;
    let found = client
        .search_available_phone_numbers(&search)
        .await
        .map_err(|e| twilio_error("searching numbers", &e))?;
    Ok(found
        .into_iter()
        .map(|n| {
            let caps = n.capabilities.unwrap_or_default();
            Offer {
                phone_number: n.phone_number,
                friendly_name: n.friendly_name,
                locality: n.locality,
                region: n.region,
                capabilities: Capabilities {
                    voice: caps.voice,
                    sms: caps.sms,
                },
            }
        })
        .collect())
}

/// `POST /api/twilio/numbers/purchase`: what a connect names (tenant, number, label,
/// routing), for a number from a search. Also the purchase job's payload.
pub type Purchase = crate::provisioning::Connect;

/// A number bought and connected.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bought {
    /// `PN…`.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// The tenant.
    pub clinic_id: String,
    /// Label.
    pub friendly_name: Option<String>,
    /// Whether texts and calls go from it.
    pub is_primary: bool,
}

/// Where a purchase stands when the request answers.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Bought (now, or already).
    Done(Bought),
    /// Still running: the job to look at.
    Pending(String),
}

fn purchase_key(number: &E164, tenant: &str) -> String {
    format!("{PURCHASE}:{}:{tenant}", number.as_str())
}

fn provision_key(tenant: &str) -> String {
    format!("{PROVISION}:{tenant}")
}

/// Checks a purchase and queues it once; waits a little for it to finish.
pub async fn purchase(state: &AppState, req: Purchase) -> AppResult<Outcome> {
    if !crate::tenants::exists(&state.db, &req.clinic_id).await? {
        return Err(AppError::field("clinicId", "no such tenant"));
    }
    let mut errors = FieldErrors::new();
    let number = E164::parse(&req.phone_number);
    if number.is_none() {
        errors.insert("phoneNumber".into(), "is not a valid phone number".into());
    }
    req.routing().check(&mut errors);
    let Some(number) = number.filter(|_| errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    if let Some(owner) = crate::numbers::owner_of(&state.db, &number).await?
        && owner != req.clinic_id
    {
        return Err(AppError::Conflict(format!(
            "{number} belongs to another tenant"
        )));
    }
    let job = NewJob {
        tenant_id: Some(req.clinic_id.clone()),
        dedupe_key: Some(purchase_key(&number, &req.clinic_id)),
        max_attempts: 3,
        ..NewJob::new(
            PURCHASE,
            serde_json::to_value(&Purchase {
                phone_number: number.as_str().to_owned(),
                ..req.clone()
            })
            .map_err(AppError::internal)?,
        )
    };
    let job = jobs::enqueue_once(&state.db, job).await?;
    settle(state, &job.id, &req.clinic_id, Some(&number)).await
}

/// Waits for a purchase or provisioning job; answers with the tenant's number when it
/// is done, Twilio's reason when it died, or the job when it is still running.
async fn settle(
    state: &AppState,
    job_id: &str,
    tenant: &str,
    number: Option<&E164>,
) -> AppResult<Outcome> {
    let started = std::time::Instant::now();
    loop {
        let job = jobs::get(&state.db, job_id).await?;
        match job.state {
            JobState::Done => {
                return match bought(state, tenant, number).await? {
                    Some(b) => Ok(Outcome::Done(b)),
                    None => Err(AppError::Conflict(
                        "the purchase finished but the number is no longer connected".into(),
                    )),
                };
            }
            JobState::Dead => {
                return Err(AppError::BadGateway(format!(
                    "the number could not be bought: {}",
                    job.last_error.unwrap_or_default()
                )));
            }
            _ if started.elapsed() > WAIT => return Ok(Outcome::Pending(job.id)),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The tenant's number (`number`, or its primary) as bought, with its Twilio sid.
async fn bought(
    state: &AppState,
    tenant: &str,
    number: Option<&E164>,
) -> AppResult<Option<Bought>> {
    let numbers = crate::numbers::list_for_tenant(&state.db, tenant).await?;
    let mine = match number {
        Some(n) => numbers.into_iter().find(|x| x.phone_number == n.as_str()),
        None => crate::numbers::sending_number(&numbers).cloned(),
    };
    let Some(mine) = mine else { return Ok(None) };
    let client = state.twilio_client(tenant).await?;
    let sid = client
        .all_incoming_phone_numbers(1000)
        .await
        .map_err(|e| twilio_error("listing numbers", &e))?
        .into_iter()
        .find(|n| n.phone_number == mine.phone_number)
        .map(|n| n.sid)
        .unwrap_or_default();
    Ok(Some(Bought {
        sid,
        phone_number: mine.phone_number,
        clinic_id: tenant.to_owned(),
        friendly_name: mine.friendly_name,
        is_primary: mine.is_primary,
    }))
}

/// Buys `number` on the tenant's account (unless it is there already) with our webhooks
/// set, and connects it to the tenant.
async fn buy_and_connect(state: &AppState, req: &Purchase) -> HandlerResult {
    let number = E164::parse(&req.phone_number).ok_or("the job's number is not E.164")?;
    let client = state
        .twilio_client(&req.clinic_id)
        .await
        .map_err(jobs::permanent)?;
    let on_account = client
        .all_incoming_phone_numbers(1000)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|n| n.phone_number == number.as_str());
    if on_account.is_none() {
        let purchase = twilio::client::PurchaseNumber {
            phone_number: Some(number.as_str().to_owned()),
            area_code: None,
            webhooks: crate::health::expected_webhooks(state),
        };
        match client.purchase_incoming_phone_number(&purchase).await {
            Ok(_) => {
                tracing::info!(tenant = %req.clinic_id, number = %number.masked(), "number bought")
            }
            Err(twilio::client::ClientError::Api(e)) if e.status < 500 && e.status != 429 => {
                let code = e.code.map(|c| format!(" ({c})")).unwrap_or_default();
                return Err(jobs::permanent(format!(
                    "Twilio refused{code}: {}",
                    e.message
                )));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    crate::numbers::attach(
        &state.db,
        &req.clinic_id,
        &number,
        req.friendly_name.as_deref(),
    )
    .await
    .map_err(jobs::permanent)?;
    crate::telephony::update(
        &state.db,
        &state.secrets,
        &req.clinic_id,
        req.routing().change(),
    )
    .await
    .map_err(jobs::permanent)?;
    Ok(())
}

/// Runs [`PURCHASE`].
pub async fn purchase_job(state: AppState, job: Job) -> HandlerResult {
    let req: Purchase = serde_json::from_value(job.payload.clone()).map_err(jobs::permanent)?;
    buy_and_connect(&state, &req).await
}

/// Gives a tenant without a number its first one (the seed's `provision-phone`):
/// idempotent — a tenant with a number gets it back, and asking twice queues one job.
pub async fn provision(state: &AppState, tenant: &str) -> AppResult<Outcome> {
    if let Some(b) = bought(state, tenant, None).await? {
        return Ok(Outcome::Done(b));
    }
    let job = queue_provision(state, tenant).await?;
    settle(state, &job.id, tenant, None).await
}

async fn queue_provision(state: &AppState, tenant: &str) -> AppResult<Job> {
    let job = NewJob {
        tenant_id: Some(tenant.to_owned()),
        dedupe_key: Some(provision_key(tenant)),
        max_attempts: 3,
        ..NewJob::new(PROVISION, serde_json::json!({ "clinicId": tenant }))
    };
    jobs::enqueue_once(&state.db, job).await
}

/// Runs [`PROVISION`]: the first number for sale on the tenant's account, bought and
/// connected — unless the tenant has one by now.
pub async fn provision_job(state: AppState, job: Job) -> HandlerResult {
    let tenant = job.tenant()?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant)
        .await
        .map_err(|e| e.to_string())?;
    if !numbers.is_empty() {
        return Ok(());
    }
    let offers = search(&state, Some(&tenant), &Search::default())
        .await
        .map_err(|e| e.to_string())?;
    let Some(first) = offers.into_iter().next() else {
        return Err("Twilio offers no numbers to buy right now".into());
    };
    buy_and_connect(
        &state,
        &Purchase {
            phone_number: first.phone_number,
            clinic_id: tenant,
            friendly_name: Some("Main line".into()),
            ..Default::default()
        },
    )
    .await
}

/// After a tenant's subscription changed: becoming trialing or active (from anything
/// else) provisions a number when it has none. Only the transition does, not every save.
pub async fn on_subscription_change(
    state: &AppState,
    tenant: &str,
    before: &str,
    after: &str,
) -> AppResult<()> {
    let live = |s: &str| matches!(s, "trialing" | "active");
    if live(after)
        && !live(before)
        && crate::numbers::list_for_tenant(&state.db, tenant)
            .await?
            .is_empty()
    {
        queue_provision(state, tenant).await?;
        tracing::info!(tenant = %tenant, "subscription started: provisioning a number");
    }
    Ok(())
}

/// Why the tenant's last provisioning failed, if it did (shown on the tenant).
pub async fn provisioning_error(state: &AppState, tenant: &str) -> AppResult<Option<String>> {
    Ok(jobs::by_dedupe_key(&state.db, &provision_key(tenant))
        .await?
        .filter(|j| matches!(j.state, JobState::Dead | JobState::Failed))
        .and_then(|j| j.last_error))
}

/// Releases a number on Twilio (the tenant's account when `tenant` is named, else the
/// platform's) and disconnects it here; its calls stay. Returns the number released.
pub async fn release(state: &AppState, tenant: Option<&str>, sid: &str) -> AppResult<String> {
    let client = crate::provisioning::client_for(state, tenant).await?;
    let number = client
        .all_incoming_phone_numbers(1000)
        .await
        .map_err(|e| twilio_error("listing numbers", &e))?
        .into_iter()
        .find(|n| n.sid == sid)
        .ok_or(AppError::NotFound)?;
    let e164 = E164::parse(&number.phone_number).ok_or(AppError::NotFound)?;
    if let Some(owner) = crate::numbers::owner_of(&state.db, &e164).await? {
        if tenant.is_some_and(|t| t != owner) {
            return Err(AppError::NotFound);
        }
        crate::numbers::detach(&state.db, &owner, Some(&e164)).await?;
        // The number may be bought again later, by anyone.
        jobs::forget_key(&state.db, &purchase_key(&e164, &owner)).await?;
    }
    client
        .release_incoming_phone_number(sid)
        .await
        .map_err(|e| twilio_error("releasing the number", &e))?;
    tracing::info!(number = %e164.masked(), "number released");
    Ok(number.phone_number)
}
