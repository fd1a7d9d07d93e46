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
    /// The receptionist's knowledge base as the form edits it.
    ai: AiForm,
    /// A question typed into the "try it" box, and the receptionist's answer.
    try_question: String,
    try_answer: Option<String>,
}

/// The knowledge base as the settings form shows it: services one per line
/// (`name | price | minutes`), questions as `Q:` / `A:` pairs.
#[derive(Debug, Clone, Default)]
pub(super) struct AiForm {
    greeting: String,
    address: String,
    insurance: String,
    emergency_handoff: String,
    business_kind: String,
    services: String,
    faqs: String,
}

impl AiForm {
    fn of(kb: Option<&telephony::AiAgent>) -> Self {
        let Some(kb) = kb else {
            return Self::default();
        };
        Self {
            greeting: kb.greeting.clone().unwrap_or_default(),
            address: kb.address.clone().unwrap_or_default(),
            insurance: kb.insurance.clone().unwrap_or_default(),
            emergency_handoff: kb.emergency_handoff.clone().unwrap_or_default(),
            business_kind: serde_json::to_value(kb.business_kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            services: kb
                .services
                .iter()
                .map(|s| {
                    let mut line = s.name.clone();
                    if s.price.is_some() || s.duration.is_some() {
                        line.push_str(&format!(" | {}", s.price.as_deref().unwrap_or_default()));
                    }
                    if let Some(d) = s.duration {
                        line.push_str(&format!(" | {d}"));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n"),
            faqs: kb
                .faqs
                .iter()
                .map(|f| format!("Q: {}\nA: {}", f.question, f.answer))
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }

    fn from_form(form: &FormData) -> Self {
        let get = |name: &str| form.get(name).unwrap_or_default().to_owned();
        Self {
            greeting: get("aiGreeting"),
            address: get("aiAddress"),
            insurance: get("aiInsurance"),
            emergency_handoff: get("aiEmergencyHandoff"),
            business_kind: get("aiBusinessKind"),
            services: get("aiServices"),
            faqs: get("aiFaqs"),
        }
    }

    /// The knowledge base the form describes (`None` when it is empty).
    fn knowledge_base(&self) -> Result<Option<telephony::AiAgent>, AppError> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut services = Vec::new();
        for (i, line) in self.services.lines().enumerate() {
            let parts: Vec<&str> = line.split('|').map(str::trim).collect();
            let Some(name) = parts.first().copied().filter(|n| !n.is_empty()) else {
                continue;
            };
            let duration = match parts.get(2).copied().filter(|d| !d.is_empty()) {
                None => None,
                Some(d) => Some(d.trim_end_matches("min").trim().parse().map_err(|_| {
                    AppError::field(
                        "aiAgent.services",
                        format!("line {}: the minutes must be a whole number", i + 1),
                    )
                })?),
            };
            services.push(telephony::Service {
                name: name.to_owned(),
                price: parts.get(1).and_then(|p| text(p)),
                duration,
            });
        }
        let mut faqs = Vec::new();
        let mut question: Option<String> = None;
        for line in self.faqs.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(q) = line.strip_prefix("Q:").or_else(|| line.strip_prefix("q:")) {
                question = Some(q.trim().to_owned());
            } else if let Some(a) = line.strip_prefix("A:").or_else(|| line.strip_prefix("a:")) {
                let Some(q) = question.take() else {
                    return Err(AppError::field(
                        "aiAgent.faqs",
                        "each A: needs a Q: line before it",
                    ));
                };
                faqs.push(telephony::Faq {
                    question: q,
                    answer: a.trim().to_owned(),
                });
            } else if let Some(last) = faqs.last_mut().filter(|_| question.is_none()) {
                last.answer = format!("{} {line}", last.answer);
            }
        }
        if question.is_some() {
            return Err(AppError::field(
                "aiAgent.faqs",
                "each Q: needs an A: line after it",
            ));
        }
        let business_kind = match self.business_kind.as_str() {
            "" => telephony::BusinessKind::General,
            kind => serde_json::from_value(serde_json::Value::String(kind.to_owned())).map_err(
                |_| AppError::field("aiAgent.businessKind", "choose one of the options"),
            )?,
        };
        let kb = telephony::AiAgent {
            greeting: text(&self.greeting),
            services,
            faqs,
            address: text(&self.address),
            insurance: text(&self.insurance),
            emergency_handoff: text(&self.emergency_handoff),
            business_kind,
        };
        Ok((kb != telephony::AiAgent::default()).then_some(kb))
    }
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
    "retentionDays",
    "businessHours",
    "aiAgent",
    "accountSid",
    "authToken",
    "apiKeySid",
    "apiKeySecret",
];

impl SettingsPage {
    fn new(chrome: Chrome, config: TwilioConfigView, can_edit: bool) -> Self {
        let hours = config.business_hours.clone();
        let ai = config.ai_agent.clone();
        let config_ai = ai.as_ref();
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
            ai: AiForm::of(config_ai),
            try_question: String::new(),
            try_answer: None,
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
        c.retention_days = form
            .get("retentionDays")
            .and_then(|v| v.trim().parse().ok());
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
        self.ai = AiForm::from_form(form);
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
    let query = saved.map(|Query(q)| q).unwrap_or_default();
    page.saved = query.contains_key("saved");
    // "Try it": what the receptionist would answer, through the same code as a call.
    if let Some(question) = query
        .get("ask")
        .map(|q| q.trim().chars().take(500).collect::<String>())
        .filter(|q| !q.is_empty())
    {
        let settings = telephony::effective(&state.db, &tenant, &state.config.routing).await?;
        page.try_answer = Some(
            crate::receptionist::try_question(&settings, &question, jiff::Timestamp::now()).text,
        );
        page.try_question = question;
    }
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
        // Empty keeps everything; anything else must be a number of days.
        retention_days: Some(match form.get("retentionDays").map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(v.parse().unwrap_or(-1)),
        }),
        business_hours: Some(business_hours),
        ai_agent: Some(AiForm::from_form(form).knowledge_base()?),
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
        Ok(update) => {
            let credentials = update.credentials_changed();
            if let Some(slot) = user.0.audit.as_ref().filter(|_| !credentials.is_empty()) {
                slot.detail(format!("credentials: {}", credentials.join(", ")));
            }
            telephony::update(&state.db, &state.secrets, &tenant, update).await
        }
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
