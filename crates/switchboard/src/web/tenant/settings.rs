//! Settings: routing, menu, forward numbers, hours, credentials.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};

use crate::error::AppError;
use crate::provisioning::CredentialsCheck;
use crate::state::AppState;
use crate::telephony::{self, BusinessHours, OpenInterval, TwilioConfigUpdate, TwilioConfigView};
use crate::web::forms::{Errors, FormData};
use crate::web::{Chrome, PageResult, PageUser, WebError};

pub(super) const WEEKDAYS: &[(&str, &str)] = &[
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

/// One weekday's row of the hours form.
pub(super) struct DayHours {
    key: &'static str,
    name: &'static str,
    open: String,
    close: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub(super) struct SettingsPage {
    chrome: Chrome,
    config: TwilioConfigView,
    mode: String,
    hours_enabled: bool,
    days: Vec<DayHours>,
    after_hours_action: String,
    after_hours_message: String,
    errors: Errors,
    saved: bool,
    check: Option<CredentialsCheck>,
    can_edit: bool,
    other_errors: Vec<String>,
    voices: &'static [&'static str],
}

pub(super) const SETTINGS_FIELDS: &[&str] = &[
    "callRoutingMode",
    "menuMessage",
    "forwardNumber",
    "forwardNumberNew",
    "forwardNumberExisting",
    "voice",
    "whisperMessage",
    "autoReplyMessage",
    "smsHelpText",
    "textBackMessage",
    "confirmationMessage",
    "reminderMessage",
    "reminderLeadMinutes",
    "businessHours",
    "accountSid",
    "authToken",
    "apiKeySid",
    "apiKeySecret",
];

impl SettingsPage {
    fn new(chrome: Chrome, config: TwilioConfigView, can_edit: bool) -> Self {
        let hours = config.business_hours.clone();
        let days = WEEKDAYS
            .iter()
            .map(|(key, name)| {
                let first = hours
                    .as_ref()
                    .and_then(|h| h.days.get(*key))
                    .and_then(|v| v.first());
                DayHours {
                    key,
                    name,
                    open: first.map(|i| i.open.clone()).unwrap_or_default(),
                    close: first.map(|i| i.close.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Self {
            chrome,
            mode: config
                .call_routing_mode
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            hours_enabled: hours.is_some(),
            after_hours_action: hours
                .as_ref()
                .map(|h| {
                    serde_json::to_value(h.after_hours_action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| "voicemail".into()),
            after_hours_message: hours
                .as_ref()
                .and_then(|h| h.after_hours_message.clone())
                .unwrap_or_default(),
            days,
            config,
            errors: Errors::none(),
            saved: false,
            check: None,
            can_edit,
            other_errors: Vec::new(),
            voices: crate::config::ALLOWED_VOICES,
        }
    }

    /// A template filled with example values, as the customer would read it (or what
    /// is wrong with it).
    fn preview(&self, template: Option<&str>, default: &str) -> String {
        let business = self
            .chrome
            .tenant_name
            .as_deref()
            .unwrap_or("your business");
        let template = template.filter(|t| !t.trim().is_empty()).unwrap_or(default);
        crate::appointments::preview(template, business)
            .unwrap_or_else(|e| format!("This template {e}."))
    }

    fn confirmation_preview(&self) -> String {
        self.preview(
            self.config.confirmation_message.as_deref(),
            crate::appointments::DEFAULT_CONFIRMATION,
        )
    }

    fn reminder_preview(&self) -> String {
        self.preview(
            self.config.reminder_message.as_deref(),
            crate::appointments::DEFAULT_REMINDER,
        )
    }

    /// The appointment templates: field, label, what is stored, its preview.
    fn appointment_templates(&self) -> Vec<(&'static str, &'static str, String, String)> {
        vec![
            (
                "confirmationMessage",
                "Confirmation",
                self.config.confirmation_message.clone().unwrap_or_default(),
                self.confirmation_preview(),
            ),
            (
                "reminderMessage",
                "Reminder",
                self.config.reminder_message.clone().unwrap_or_default(),
                self.reminder_preview(),
            ),
        ]
    }

    /// The reminder lead times offered, in minutes, with their labels; the stored one
    /// is among them even when it was set through the API.
    fn lead_options(&self) -> Vec<(i64, String)> {
        let mut options: Vec<i64> = vec![60, 120, 240, 720, 1440, 2880];
        if !options.contains(&self.config.reminder_lead_minutes) {
            options.push(self.config.reminder_lead_minutes);
            options.sort_unstable();
        }
        options
            .into_iter()
            .map(|m| {
                let label = match (m / 60, m % 60) {
                    (0, m) => format!("{m} minutes before"),
                    (1, 0) => "1 hour before".to_owned(),
                    (h, 0) if h % 24 == 0 && h > 24 => format!("{} days before", h / 24),
                    (h, 0) => format!("{h} hours before"),
                    (h, m) => format!("{h} h {m} min before"),
                };
                (m, label)
            })
            .collect()
    }

    fn voice_is(&self, voice: &str) -> bool {
        self.config.voice.as_deref() == Some(voice)
    }

    /// The page for `tenant` as stored, editable for its owner.
    async fn load(state: &AppState, user: &PageUser, tenant: &str) -> Result<Self, WebError> {
        let chrome = Chrome::for_user(state, user, "Settings", "/settings").await?;
        let config = telephony::view(&state.db, tenant).await?;
        Ok(Self::new(chrome, config, settings_can_edit(user)))
    }

    /// Keeps what the user typed when the form comes back with errors.
    fn refill(&mut self, form: &FormData) {
        self.mode = form.get("callRoutingMode").unwrap_or_default().to_owned();
        let c = &mut self.config;
        c.menu_message = form.text("menuMessage");
        c.forward_number = form.text("forwardNumber");
        c.forward_number_new = form.text("forwardNumberNew");
        c.forward_number_existing = form.text("forwardNumberExisting");
        c.voice = form.text("voice");
        c.whisper_message = form.text("whisperMessage");
        c.auto_reply_message = form.text("autoReplyMessage");
        c.recording_enabled = Some(form.checked("recordingEnabled"));
        c.transcription_enabled = Some(form.checked("transcriptionEnabled"));
        c.llm_classification = form.checked("llmClassification");
        c.sms_help_text = form.text("smsHelpText");
        c.text_back_enabled = form.checked("textBackEnabled");
        c.ring_browsers = form.checked("ringBrowsers");
        c.text_back_message = form.text("textBackMessage");
        c.confirmation_message = form.text("confirmationMessage");
        c.reminder_message = form.text("reminderMessage");
        if let Some(lead) = form.get("reminderLeadMinutes").and_then(|v| v.parse().ok()) {
            c.reminder_lead_minutes = lead;
        }
        self.hours_enabled = form.checked("hoursEnabled");
        for d in &mut self.days {
            d.open = form
                .get(&format!("open_{}", d.key))
                .unwrap_or_default()
                .to_owned();
            d.close = form
                .get(&format!("close_{}", d.key))
                .unwrap_or_default()
                .to_owned();
        }
        self.after_hours_action = form.get("afterHoursAction").unwrap_or_default().to_owned();
        self.after_hours_message = form.get("afterHoursMessage").unwrap_or_default().to_owned();
    }
}

pub(super) fn settings_can_edit(user: &PageUser) -> bool {
    user.0.user.role == crate::users::Role::Customer
}

pub(super) async fn settings(
    State(state): State<AppState>,
    user: PageUser,
    saved: Result<
        Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    let mut page = SettingsPage::load(&state, &user, &tenant).await?;
    page.saved = saved.is_ok_and(|Query(q)| q.contains_key("saved"));
    Ok(page.into_response())
}

/// The update a settings form asks for. Blank secret fields keep what is stored.
pub(super) fn settings_update(form: &FormData) -> Result<TwilioConfigUpdate, AppError> {
    let text = |name: &str| Some(form.text(name));
    let mode = match form.get("callRoutingMode").unwrap_or_default() {
        "" => None,
        other => Some(
            telephony::RoutingMode::parse(other)
                .ok_or_else(|| AppError::field("callRoutingMode", "choose one of the options"))?,
        ),
    };
    let business_hours = if form.checked("hoursEnabled") {
        let mut days = std::collections::BTreeMap::new();
        for (key, _) in WEEKDAYS {
            let open = form.text(&format!("open_{key}"));
            let close = form.text(&format!("close_{key}"));
            let intervals = match (open, close) {
                (Some(open), Some(close)) => vec![OpenInterval { open, close }],
                (None, None) => Vec::new(),
                _ => {
                    return Err(AppError::field(
                        &format!("businessHours.days.{key}"),
                        "give both an opening and a closing time, or neither",
                    ));
                }
            };
            days.insert((*key).to_owned(), intervals);
        }
        let action = serde_json::from_value(serde_json::Value::String(
            form.get("afterHoursAction")
                .unwrap_or("voicemail")
                .to_owned(),
        ))
        .map_err(|_| {
            AppError::field(
                "businessHours.afterHoursAction",
                "choose one of the options",
            )
        })?;
        Some(BusinessHours {
            timezone: None,
            days,
            after_hours_action: action,
            after_hours_message: form.text("afterHoursMessage"),
        })
    } else {
        None
    };
    let mut update = TwilioConfigUpdate {
        call_routing_mode: Some(mode),
        menu_message: text("menuMessage"),
        forward_number: text("forwardNumber"),
        forward_number_new: text("forwardNumberNew"),
        forward_number_existing: text("forwardNumberExisting"),
        voice: text("voice"),
        recording_enabled: Some(Some(form.checked("recordingEnabled"))),
        transcription_enabled: Some(Some(form.checked("transcriptionEnabled"))),
        whisper_message: text("whisperMessage"),
        auto_reply_message: text("autoReplyMessage"),
        sms_help_text: text("smsHelpText"),
        text_back_enabled: Some(Some(form.checked("textBackEnabled"))),
        ring_browsers: Some(Some(form.checked("ringBrowsers"))),
        text_back_message: text("textBackMessage"),
        confirmation_message: text("confirmationMessage"),
        reminder_message: text("reminderMessage"),
        reminder_lead_minutes: match form.get("reminderLeadMinutes") {
            None | Some("") => None,
            Some(v) => Some(Some(v.parse().unwrap_or(-1))),
        },
        llm_classification: Some(Some(form.checked("llmClassification"))),
        business_hours: Some(business_hours),
        ..TwilioConfigUpdate::default()
    };
    if form.checked("removeCredentials") {
        update.account_sid = Some(None);
        update.auth_token = Some(None);
        update.api_key_sid = Some(None);
        update.api_key_secret = Some(None);
    } else {
        // A blank field keeps the stored value: secrets are never sent back to the page.
        update.account_sid = form.text("accountSid").map(Some);
        update.auth_token = form.text("authToken").map(Some);
        update.api_key_sid = form.text("apiKeySid").map(Some);
        update.api_key_secret = form.text("apiKeySecret").map(Some);
    }
    Ok(update)
}

pub(super) async fn save_settings(
    State(state): State<AppState>,
    user: PageUser,
    form: FormData,
) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    user.0.tenant_scope(&state, &tenant, None).await?;
    let result = match settings_update(&form) {
        Ok(update) => telephony::update(&state.db, &state.secrets, &tenant, update).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            tracing::info!(tenant = %tenant, by = %user.0.user.id, "settings saved in the portal");
            Ok(Redirect::to("/settings?saved=1").into_response())
        }
        Err(e @ (AppError::Validation(_) | AppError::Conflict(_) | AppError::Taken { .. })) => {
            let mut page = SettingsPage::load(&state, &user, &tenant).await?;
            page.refill(&form);
            page.errors = Errors::from_app(&e);
            page.other_errors = page.errors.others(SETTINGS_FIELDS);
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn test_credentials(State(state): State<AppState>, user: PageUser) -> PageResult {
    let tenant = user.tenant_for(&state, "settings").await?;
    user.0.tenant_scope(&state, &tenant, None).await?;
    let check = crate::provisioning::test_credentials(&state, Some(&tenant)).await?;
    let mut page = SettingsPage::load(&state, &user, &tenant).await?;
    page.check = Some(check);
    Ok(page.into_response())
}
