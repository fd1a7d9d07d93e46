//! Tracking numbers on Twilio: listing an account's numbers, connecting one to a
//! tenant (pointing its webhooks at us), changing its message, disconnecting it, and
//! checking credentials. Owns no tables: it works through `numbers`, `telephony` and
//! `tenants`, and talks to Twilio with the tenant's (or the platform's) credentials.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult, FieldErrors};
use crate::numbers::E164;
use crate::paths;
use crate::state::AppState;
use crate::telephony::{self, TwilioConfigUpdate, TwilioConfigView};

/// A number on a Twilio account, and which tenant (if any) it is connected to here.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountNumber {
    /// `PN…`.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// Twilio's label.
    pub friendly_name: Option<String>,
    /// Where calls to it go.
    pub voice_url: Option<String>,
    /// Whether its voice webhook points at this service.
    pub points_here: bool,
    /// The tenant it is connected to.
    pub tenant_id: Option<String>,
    /// That tenant's name.
    pub tenant_name: Option<String>,
}

fn twilio_failed(what: &str, e: &twilio::client::ClientError) -> AppError {
    if e.is_auth_error() {
        AppError::BadGateway(format!("Twilio refused the credentials while {what}"))
    } else {
        AppError::BadGateway(format!("Twilio failed while {what}: {e}"))
    }
}

/// The client for an account: a tenant's own credentials (falling back to the
/// platform's), or the platform's when no tenant is named.
pub async fn client_for(
    state: &AppState,
    tenant: Option<&str>,
) -> AppResult<twilio::client::Client> {
    match tenant {
        Some(t) => state.twilio_client(t).await,
        None => {
            let creds =
                telephony::platform_credentials(&state.config.platform).ok_or_else(|| {
                    AppError::BadGateway("no platform Twilio credentials are configured".into())
                })?;
            state.client_with(creds)
        }
    }
}

/// The numbers on an account (the platform's, or `tenant`'s own), with their tenants.
pub async fn account_numbers(
    state: &AppState,
    tenant: Option<&str>,
) -> AppResult<Vec<AccountNumber>> {
    let client = client_for(state, tenant).await?;
    let numbers = client
        .all_incoming_phone_numbers(1000)
        .await
        .map_err(|e| twilio_failed("listing numbers", &e))?;
    let owners = crate::numbers::assignments(&state.db).await?;
    let tenants = crate::tenants::list(&state.db).await?;
    let ours = format!(
        "{}{}",
        state.config.public_url.trim_end_matches('/'),
        paths::INCOMING
    );
    Ok(numbers
        .into_iter()
        .map(|n| {
            let tenant_id = owners
                .iter()
                .find(|(e164, _)| *e164 == n.phone_number)
                .map(|(_, t)| t.clone());
            let tenant_name = tenant_id
                .as_ref()
                .and_then(|id| tenants.iter().find(|t| &t.id == id))
                .map(|t| t.name.clone());
            AccountNumber {
                points_here: n.voice_url.as_deref() == Some(ours.as_str()),
                sid: n.sid,
                phone_number: n.phone_number,
                friendly_name: n.friendly_name,
                voice_url: n.voice_url,
                tenant_id,
                tenant_name,
            }
        })
        .collect())
}

/// `POST /api/twilio/connect` (and, as [`crate::purchases::Purchase`], a purchase).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connect {
    /// The tenant.
    pub clinic_id: String,
    /// The number, any spelling.
    pub phone_number: String,
    /// Label shown in the portal.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Default forward number.
    #[serde(default)]
    pub forward_number: Option<String>,
    /// Forward number for new patients.
    #[serde(default)]
    pub forward_number_new: Option<String>,
    /// Forward number for existing patients.
    #[serde(default)]
    pub forward_number_existing: Option<String>,
    /// Menu prompt.
    #[serde(default)]
    pub menu_message: Option<String>,
}

/// The routing a number is connected (or bought) with: forward numbers and the menu.
pub struct Routing<'a> {
    /// Default forward number.
    pub forward_number: &'a Option<String>,
    /// New patients (menu 1).
    pub forward_number_new: &'a Option<String>,
    /// Existing patients (menu 2).
    pub forward_number_existing: &'a Option<String>,
    /// Menu prompt.
    pub menu_message: &'a Option<String>,
}

impl Routing<'_> {
    /// Field errors for numbers that do not parse and a menu that is too long.
    pub fn check(&self, errors: &mut FieldErrors) {
        for (field, value) in [
            ("forwardNumber", self.forward_number),
            ("forwardNumberNew", self.forward_number_new),
            ("forwardNumberExisting", self.forward_number_existing),
        ] {
            if let Some(Some(v)) = blank_is_none(value)
                && E164::parse(&v).is_none()
            {
                errors.insert(field.into(), "is not a valid phone number".into());
            }
        }
        if self
            .menu_message
            .as_deref()
            .is_some_and(|m| m.chars().count() > 1000)
        {
            errors.insert(
                "menuMessage".into(),
                "must be at most 1000 characters".into(),
            );
        }
    }

    /// The settings change that saves it (blank fields stay as they are).
    pub fn change(&self) -> TwilioConfigUpdate {
        TwilioConfigUpdate {
            forward_number: blank_is_none(self.forward_number),
            forward_number_new: blank_is_none(self.forward_number_new),
            forward_number_existing: blank_is_none(self.forward_number_existing),
            menu_message: blank_is_none(self.menu_message),
            ..TwilioConfigUpdate::default()
        }
    }
}

impl Connect {
    /// The routing the number is connected with.
    pub(crate) fn routing(&self) -> Routing<'_> {
        Routing {
            forward_number: &self.forward_number,
            forward_number_new: &self.forward_number_new,
            forward_number_existing: &self.forward_number_existing,
            menu_message: &self.menu_message,
        }
    }
}

fn blank_is_none(v: &Option<String>) -> Option<Option<String>> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Some(s.to_owned()))
}

/// Connects a number on the tenant's account to the tenant: its webhooks on Twilio
/// point at us, it is attached here, and the forward numbers and message given are
/// saved. Everything is checked before Twilio is touched; a number of another tenant
/// is a 409, one not on the account a 422.
pub async fn connect(state: &AppState, req: Connect) -> AppResult<TwilioConfigView> {
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

    let client = state.twilio_client(&req.clinic_id).await?;
    let on_account = client
        .all_incoming_phone_numbers(1000)
        .await
        .map_err(|e| twilio_failed("listing numbers", &e))?
        .into_iter()
        .find(|n| n.phone_number == number.as_str())
        .ok_or_else(|| AppError::field("phoneNumber", "is not a number on this Twilio account"))?;
    let webhooks = twilio::client::NumberWebhooks::switchboard(
        &state.config.public_url,
        paths::INCOMING,
        paths::STATUS,
        paths::SMS,
    );
    client
        .update_incoming_phone_number(&on_account.sid, &webhooks)
        .await
        .map_err(|e| twilio_failed("pointing the number at Switchboard", &e))?;

    let label = req
        .friendly_name
        .as_deref()
        .or(on_account.friendly_name.as_deref());
    crate::numbers::attach(&state.db, &req.clinic_id, &number, label).await?;
    let view = telephony::update(
        &state.db,
        &state.secrets,
        &req.clinic_id,
        req.routing().change(),
    )
    .await?;
    tracing::info!(tenant = %req.clinic_id, number = %number.masked(), "number connected");
    Ok(view)
}

/// Changes the menu message of a tenant's numbers (blank restores the default).
pub async fn update_message(
    state: &AppState,
    tenant_id: &str,
    menu_message: Option<String>,
) -> AppResult<TwilioConfigView> {
    let change = TwilioConfigUpdate {
        menu_message: Some(menu_message),
        ..TwilioConfigUpdate::default()
    };
    let view = telephony::update(&state.db, &state.secrets, tenant_id, change).await?;
    Ok(view)
}

/// Disconnects one of a tenant's numbers (or all). Its webhooks keep pointing at us,
/// so calls to it show up among the unrouted calls instead of vanishing.
pub async fn disconnect(
    state: &AppState,
    tenant_id: &str,
    phone_number: Option<&str>,
) -> AppResult<Vec<String>> {
    let number = match phone_number.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            E164::parse(raw)
                .ok_or_else(|| AppError::field("phoneNumber", "is not a valid phone number"))?,
        ),
        None => None,
    };
    let removed = crate::numbers::detach(&state.db, tenant_id, number.as_ref()).await?;
    tracing::info!(tenant = %tenant_id, count = removed.len(), "numbers disconnected");
    Ok(removed)
}

/// What a credentials check found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsCheck {
    /// Whether Twilio accepted them.
    pub ok: bool,
    /// The account's masked sid.
    pub account_sid: Option<String>,
    /// The account's name on Twilio.
    pub friendly_name: Option<String>,
    /// `active`, `suspended`, `closed`.
    pub status: Option<String>,
    /// Whether these are the platform's credentials rather than the tenant's own.
    pub platform: bool,
    /// Why not, when not.
    pub message: Option<String>,
}

/// Asks Twilio for the account the tenant's credentials (or the platform's) belong to.
pub async fn test_credentials(
    state: &AppState,
    tenant: Option<&str>,
) -> AppResult<CredentialsCheck> {
    let platform = match tenant {
        Some(t) => {
            telephony::view(&state.db, t)
                .await?
                .uses_platform_credentials
        }
        None => true,
    };
    let client = match client_for(state, tenant).await {
        Ok(c) => c,
        Err(AppError::BadGateway(message)) => {
            return Ok(CredentialsCheck {
                ok: false,
                account_sid: None,
                friendly_name: None,
                status: None,
                platform,
                message: Some(message),
            });
        }
        Err(e) => return Err(e),
    };
    let account_sid = Some(twilio::sid::mask_sid(client.account_sid()));
    Ok(match client.fetch_account().await {
        Ok(account) => CredentialsCheck {
            ok: true,
            account_sid,
            friendly_name: account.friendly_name,
            status: account.status,
            platform,
            message: None,
        },
        Err(e) => CredentialsCheck {
            ok: false,
            account_sid,
            friendly_name: None,
            status: None,
            platform,
            message: Some(if e.is_auth_error() {
                "Twilio refused these credentials".into()
            } else {
                format!("Twilio could not be reached: {e}")
            }),
        },
    })
}
