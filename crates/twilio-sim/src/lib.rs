//! # twilio-sim — Twilio on loopback
//!
//! A simulator that behaves like Twilio closely enough that Switchboard's tests and
//! its demo exercise the real code paths: the same REST paths and JSON shapes, the
//! same TwiML interpretation, the same signed callbacks in the same order (or, on
//! request, shuffled, duplicated or late).
//!
//! ```no_run
//! # async fn demo() {
//! use twilio_sim::{Scenario, Simulator, Press};
//!
//! let sim = Simulator::start().await.unwrap();
//! let account = sim.create_account("Demo");
//! sim.add_number(&account.sid, "+15551230001", "Main line");
//! sim.set_number_webhooks(&account.sid, "+15551230001", "http://127.0.0.1:8080/api/twilio/voice/incoming", Some("http://127.0.0.1:8080/api/twilio/voice/status-callback"), None);
//! let mut call = Scenario::new("+15550001111", "+15551230001");
//! call.presses = vec![Press::Digits("1".into())];
//! let report = sim.play(&call).await.unwrap();
//! println!("{} heard {:?}", report.call_sid, report.heard);
//! # }
//! ```

pub mod caller;
pub mod media;
pub mod rest;
pub mod state;
pub mod twiml;

use std::sync::{Arc, Mutex, MutexGuard};

pub use caller::{CallReport, Delivery, Press, Scenario, SimError, Speaker, Staff};
use state::{
    Account, CallRecord, MessageRecord, NumberRecord, RecordingRecord, State, now_ms, sid,
};

/// An account's credentials, as the simulator issued them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCredentials {
    /// `AC…`.
    pub sid: String,
    /// The auth token (signs webhooks).
    pub auth_token: String,
}

struct Inner {
    state: Mutex<State>,
    http: reqwest::Client,
    base_url: String,
}

/// A running simulator; cheap to clone.
#[derive(Clone)]
pub struct Simulator(Arc<Inner>);

/// The simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Simulator {
    /// Starts on a free loopback port.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on `addr` (e.g. `127.0.0.1:4010`).
    pub async fn start_on(addr: &str) -> Result<Self, StartError> {
        twilio::client::install_tls_provider();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .pool_max_idle_per_host(32)
            .build()?;
        let sim = Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            http,
            base_url: format!("http://{local}"),
        }));
        let app = rest::router(sim.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(sim)
    }

    /// Where the REST API listens (use as the Twilio API base).
    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates an account with a fresh SID and auth token.
    pub fn create_account(&self, friendly_name: &str) -> AccountCredentials {
        let creds = AccountCredentials {
            sid: sid("AC"),
            auth_token: sid("").chars().take(32).collect(),
        };
        self.lock().accounts.insert(
            creds.sid.clone(),
            Account {
                sid: creds.sid.clone(),
                friendly_name: friendly_name.to_owned(),
                auth_token: creds.auth_token.clone(),
                date_created: now_ms(),
                ..Account::default()
            },
        );
        creds
    }

    /// Adds an account with given credentials (to sign for a Switchboard that already
    /// knows them). Returns false when the SID is taken.
    pub fn add_account(&self, sid: &str, auth_token: &str, friendly_name: &str) -> bool {
        let mut state = self.lock();
        if state.accounts.contains_key(sid) {
            return false;
        }
        state.accounts.insert(
            sid.to_owned(),
            Account {
                sid: sid.to_owned(),
                friendly_name: friendly_name.to_owned(),
                auth_token: auth_token.to_owned(),
                date_created: now_ms(),
                ..Account::default()
            },
        );
        true
    }

    /// Sets an account's status as Twilio reports it (`active`, `suspended`, `closed`).
    pub fn set_account_status(&self, account: &str, status: &str) {
        if let Some(a) = self.lock().accounts.get_mut(account) {
            a.status = status.to_owned();
        }
    }

    /// Makes the account's REST answers (the account and its numbers) take `delay`.
    pub fn set_answer_delay(&self, account: &str, delay: std::time::Duration) {
        if let Some(a) = self.lock().accounts.get_mut(account) {
            a.answer_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        }
    }

    /// An account's auth token.
    pub fn account_token(&self, account: &str) -> Option<String> {
        self.lock()
            .accounts
            .get(account)
            .map(|a| a.auth_token.clone())
    }

    /// Creates an API key on an account; returns (key SID, secret).
    pub fn create_api_key(&self, account: &str) -> Option<(String, String)> {
        let key = (sid("SK"), sid("").chars().take(32).collect::<String>());
        self.lock()
            .accounts
            .get_mut(account)?
            .api_keys
            .push(key.clone());
        Some(key)
    }

    /// Gives an account a number (as if bought); returns its `PN…` SID.
    pub fn add_number(
        &self,
        account: &str,
        phone_number: &str,
        friendly_name: &str,
    ) -> Option<String> {
        let mut state = self.lock();
        if state.number_owner(phone_number).is_some() {
            return None;
        }
        let n = NumberRecord {
            sid: sid("PN"),
            phone_number: phone_number.to_owned(),
            friendly_name: friendly_name.to_owned(),
            voice_url: None,
            voice_method: "POST".into(),
            status_callback: None,
            sms_url: None,
            date_created: now_ms(),
            settings: std::collections::BTreeMap::new(),
            date_updated: 0,
        };
        let out = n.sid.clone();
        state.accounts.get_mut(account)?.numbers.push(n);
        Some(out)
    }

    /// Points a number's webhooks (what `POST IncomingPhoneNumbers/{Sid}` does).
    pub fn set_number_webhooks(
        &self,
        account: &str,
        phone_number: &str,
        voice_url: &str,
        status_callback: Option<&str>,
        sms_url: Option<&str>,
    ) {
        let mut state = self.lock();
        if let Some(n) = state.accounts.get_mut(account).and_then(|a| {
            a.numbers
                .iter_mut()
                .find(|n| n.phone_number == phone_number)
        }) {
            n.voice_url = Some(voice_url.to_owned());
            n.status_callback = status_callback.map(str::to_owned);
            n.sms_url = sms_url.map(str::to_owned);
        }
    }

    /// A number's current configuration.
    pub fn number(&self, phone_number: &str) -> Option<NumberRecord> {
        self.lock()
            .number_owner(phone_number)
            .map(|(_, n)| n.clone())
    }

    /// Creates a Voice Intelligence service whose webhook is `url`; returns its `GA…` SID.
    pub fn create_intelligence_service(
        &self,
        account: &str,
        webhook_url: Option<&str>,
    ) -> Option<String> {
        let service = sid("GA");
        self.lock()
            .accounts
            .get_mut(account)?
            .vi_services
            .insert(service.clone(), webhook_url.map(str::to_owned));
        Some(service)
    }

    /// Points an Intelligence service's webhook at `url`.
    pub fn set_intelligence_webhook(&self, account: &str, service_sid: &str, url: &str) {
        if let Some(a) = self.lock().accounts.get_mut(account) {
            a.vi_services
                .insert(service_sid.to_owned(), Some(url.to_owned()));
        }
    }

    /// A recording's metadata.
    pub fn recording(&self, account: &str, recording_sid: &str) -> Option<RecordingRecord> {
        self.lock()
            .accounts
            .get(account)?
            .recordings
            .get(recording_sid)
            .cloned()
    }

    /// Whether a Voice Intelligence transcript exists (deleted ones do not).
    pub fn has_transcript(&self, account: &str, transcript_sid: &str) -> bool {
        self.lock()
            .accounts
            .get(account)
            .is_some_and(|a| a.transcripts.contains_key(transcript_sid))
    }

    /// A call's metadata.
    pub fn call(&self, account: &str, call_sid: &str) -> Option<CallRecord> {
        self.lock()
            .accounts
            .get(account)?
            .calls
            .get(call_sid)
            .cloned()
    }

    /// A TwiML App of the account.
    pub fn application(&self, account: &str, sid: &str) -> Option<state::ApplicationRecord> {
        self.lock()
            .accounts
            .get(account)?
            .applications
            .get(sid)
            .cloned()
    }

    /// How many calls (legs included) the account has had.
    pub fn call_count(&self, account: &str) -> usize {
        self.lock()
            .accounts
            .get(account)
            .map_or(0, |a| a.calls.len())
    }

    /// A message's metadata.
    pub fn message(&self, account: &str, message_sid: &str) -> Option<MessageRecord> {
        self.lock()
            .accounts
            .get(account)?
            .messages
            .get(message_sid)
            .cloned()
    }

    /// The messages Twilio accepted for sending to `to`, oldest first.
    pub fn messages_to(&self, account: &str, to: &str) -> Vec<MessageRecord> {
        let state = self.lock();
        let mut out: Vec<MessageRecord> = state
            .accounts
            .get(account)
            .map(|a| {
                a.messages
                    .values()
                    .filter(|m| m.to == to && m.direction == "outbound-api")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|m| m.date_created);
        out
    }

    /// How `number` (E.164, or `client:{identity}`) behaves when the simulator calls it:
    /// the `To` of a REST call, or a `<Number>`/`<Client>` a Dial rings.
    pub fn set_phone(&self, number: &str, behaviour: crate::caller::Staff) {
        self.lock().phones.insert(number.to_owned(), behaviour);
    }

    /// How `number` behaves, when set.
    pub fn phone(&self, number: &str) -> Option<crate::caller::Staff> {
        self.lock().phones.get(number).copied()
    }

    /// What happened on a call created through the REST API, once it has ended.
    pub fn outbound_report(&self, call_sid: &str) -> Option<crate::caller::CallReport> {
        self.lock().outbound_reports.get(call_sid).cloned()
    }

    /// Waits (up to `limit`) for a REST call to end, and reports it.
    pub async fn wait_outbound(
        &self,
        call_sid: &str,
        limit: std::time::Duration,
    ) -> Option<crate::caller::CallReport> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(r) = self.outbound_report(call_sid) {
                return Some(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn store_call(&self, account: &str, call: CallRecord) {
        if let Some(a) = self.lock().accounts.get_mut(account) {
            a.calls.insert(call.sid.clone(), call);
        }
    }

    pub(crate) fn finish_call(
        &self,
        account: &str,
        call_sid: &str,
        status: &str,
        duration: u32,
        end: i64,
    ) {
        if let Some(c) = self
            .lock()
            .accounts
            .get_mut(account)
            .and_then(|a| a.calls.get_mut(call_sid))
        {
            c.status = status.to_owned();
            c.duration = Some(duration);
            c.end_time = Some(end);
        }
    }

    pub(crate) fn store_recording(&self, account: &str, rec: RecordingRecord) {
        if let Some(a) = self.lock().accounts.get_mut(account) {
            a.recordings.insert(rec.sid.clone(), rec);
        }
    }

    pub(crate) fn store_message(&self, account: &str, message: MessageRecord) {
        if let Some(a) = self.lock().accounts.get_mut(account) {
            a.messages.insert(message.sid.clone(), message);
        }
    }

    pub(crate) fn set_message_status(
        &self,
        account: &str,
        message_sid: &str,
        status: &str,
        error: Option<i64>,
    ) {
        if let Some(m) = self
            .lock()
            .accounts
            .get_mut(account)
            .and_then(|a| a.messages.get_mut(message_sid))
        {
            m.status = status.to_owned();
            m.error_code = error;
        }
    }

    /// Sends a signed form request as Twilio would; returns (status, body). A
    /// request that fails to connect answers status 0.
    pub async fn signed_request(
        &self,
        token: &str,
        url: &str,
        method: &str,
        params: &[(String, String)],
    ) -> (u16, String) {
        let request = if method.eq_ignore_ascii_case("GET") {
            let mut u = match url::Url::parse(url) {
                Ok(u) => u,
                Err(_) => return (0, String::new()),
            };
            u.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let none: [(String, String); 0] = [];
            let signature = caller::sign(token, u.as_str(), &none);
            self.0
                .http
                .get(u.as_str())
                .header(caller::SIGNATURE, signature)
        } else {
            let signature = caller::sign(token, url, params);
            self.0
                .http
                .post(url)
                .header(caller::SIGNATURE, signature)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("user-agent", "TwilioProxy/1.1")
                .body(serde_urlencoded::to_string(params).unwrap_or_default())
        };
        match request.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(e) => {
                tracing::warn!(error = %e, url, "callback failed");
                (0, String::new())
            }
        }
    }

    /// Sends a signed JSON body (`bodySHA256` in the URL), as Twilio does for JSON webhooks.
    pub async fn signed_json(&self, token: &str, url: &str, body: &str) -> (u16, String) {
        let hash = twilio::signature::body_sha256_hex(body.as_bytes());
        let sep = if url.contains('?') { '&' } else { '?' };
        let full = format!("{url}{sep}bodySHA256={hash}");
        let none: [(String, String); 0] = [];
        let signature = caller::sign(token, &full, &none);
        match self
            .0
            .http
            .post(&full)
            .header(caller::SIGNATURE, signature)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }
}
