//! An async REST client for the parts of Twilio's API that Switchboard uses.
//!
//! Authentication is HTTP Basic with an API key and secret when one is configured,
//! falling back to the account SID and auth token when Twilio answers 401/403 to the
//! key (the fallback is remembered for the client's life). Requests time out; safe
//! requests are retried with exponential backoff on 429 and 5xx, honouring
//! `Retry-After`. Creating calls, messages and numbers is retried only on 429 (the
//! request was refused, so nothing was created). Twilio's error body surfaces as
//! [`ClientError::Api`]. Base URLs are configurable, so the simulator in
//! `twilio-sim` can stand in for Twilio.
//!
//! ```no_run
//! # async fn demo() -> Result<(), twilio::client::ClientError> {
//! use twilio::client::{Client, ClientConfig, Credentials, CreateMessage};
//!
//! let client = Client::new(
//!     Credentials::auth_token("ACxxxxxxxx", "token"),
//!     ClientConfig::default(),
//! )?;
//! let message = client
//!     .create_message(&CreateMessage::new("+15557654321", "+15551230001", "Your appointment is tomorrow at 9."))
//!     .await?;
//! println!("{} is {}", message.sid, message.status);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Twilio's REST API.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// Twilio's Voice Intelligence API.
pub const DEFAULT_INTELLIGENCE_BASE: &str = "https://intelligence.twilio.com";

/// Path templates, spelled as in Twilio's OpenAPI specs (a test checks them there).
pub mod paths {
    /// An account.
    pub const ACCOUNT: &str = "/2010-04-01/Accounts/{Sid}.json";
    /// The account's numbers (list, purchase).
    pub const INCOMING_PHONE_NUMBERS: &str =
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json";
    /// One number (fetch, update, release).
    pub const INCOMING_PHONE_NUMBER: &str =
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json";
    /// Local numbers for sale.
    pub const AVAILABLE_LOCAL: &str =
        "/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers/{CountryCode}/Local.json";
    /// Toll-free numbers for sale.
    pub const AVAILABLE_TOLL_FREE: &str =
        "/2010-04-01/Accounts/{AccountSid}/AvailablePhoneNumbers/{CountryCode}/TollFree.json";
    /// Calls (create).
    pub const CALLS: &str = "/2010-04-01/Accounts/{AccountSid}/Calls.json";
    /// One call (fetch, update).
    pub const CALL: &str = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json";
    /// Messages (create, list).
    pub const MESSAGES: &str = "/2010-04-01/Accounts/{AccountSid}/Messages.json";
    /// One message.
    pub const MESSAGE: &str = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json";
    /// One recording's metadata; the media is the same path with `.mp3` or `.wav`.
    pub const RECORDING: &str = "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json";
    /// Voice Intelligence transcripts (create).
    pub const TRANSCRIPTS: &str = "/v2/Transcripts";
    /// One transcript.
    pub const TRANSCRIPT: &str = "/v2/Transcripts/{Sid}";
    /// A transcript's operator results.
    pub const OPERATOR_RESULTS: &str = "/v2/Transcripts/{TranscriptSid}/OperatorResults";
    /// A transcript's sentences.
    pub const SENTENCES: &str = "/v2/Transcripts/{TranscriptSid}/Sentences";
}

/// Fills `{Name}` placeholders in a path template, percent-encoding each value.
pub fn fill_path(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        out = out.replace(&format!("{{{name}}}"), &encoded.replace('+', "%20"));
    }
    out
}

/// Who the client acts as.
#[derive(Clone)]
pub struct Credentials {
    account_sid: String,
    auth_token: Option<String>,
    api_key: Option<(String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("api_key_sid", &self.api_key.as_ref().map(|(sid, _)| sid))
            .finish()
    }
}

impl Credentials {
    /// The account SID and auth token.
    pub fn auth_token(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token: Some(auth_token.into()),
            api_key: None,
        }
    }

    /// An API key and secret, with the auth token (if known) as the fallback.
    pub fn api_key(
        account_sid: impl Into<String>,
        api_key_sid: impl Into<String>,
        api_key_secret: impl Into<String>,
        auth_token: Option<String>,
    ) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token,
            api_key: Some((api_key_sid.into(), api_key_secret.into())),
        }
    }

    /// The account these credentials act for.
    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The API key and its secret, which sign access tokens (an auth token cannot).
    pub fn signing_key(&self) -> Option<(&str, &str)> {
        self.api_key
            .as_ref()
            .map(|(sid, secret)| (sid.as_str(), secret.as_str()))
    }
}

/// Where Twilio is and how patient to be with it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the REST API (`https://api.twilio.com`).
    pub api_base: String,
    /// Base URL of Voice Intelligence (`https://intelligence.twilio.com`).
    pub intelligence_base: String,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay; doubles on each retry.
    pub initial_backoff: Duration,
    /// Longest wait between attempts, also capping `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            intelligence_base: DEFAULT_INTELLIGENCE_BASE.into(),
            timeout: Duration::from_secs(15),
            max_retries: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl ClientConfig {
    /// Points both APIs at one base URL (the simulator serves both).
    pub fn with_base(base: impl Into<String>) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        Self {
            api_base: base.clone(),
            intelligence_base: base,
            ..Self::default()
        }
    }
}

/// Twilio's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Twilio's error code (e.g. 20404), when sent.
    #[serde(default)]
    pub code: Option<i64>,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Link to the error's documentation.
    #[serde(default)]
    pub more_info: Option<String>,
}

/// A request to Twilio failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Twilio answered with an error.
    #[error("Twilio answered {}: {} (code {})", .0.status, .0.message, .0.code.map_or_else(|| "none".to_string(), |c| c.to_string()))]
    Api(ApiError),
    /// Twilio could not be reached, or the connection failed.
    #[error("could not reach Twilio: {0}")]
    Transport(#[source] reqwest::Error),
    /// Twilio answered something we could not read.
    #[error("unexpected response from Twilio: {0}")]
    Decode(String),
    /// Neither an API key nor an auth token is configured.
    #[error("no Twilio credentials configured")]
    NoCredentials,
}

impl ClientError {
    /// The HTTP status Twilio answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// Whether Twilio refused the credentials.
    pub fn is_auth_error(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }
}

/// Whether a request may be sent again after a failure that may have reached Twilio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads, deletes and updates that set absolute values.
    Safe,
    /// Creates: retried only when Twilio refused them outright (429).
    OnlyIfRefused,
}

/// Form parameters in Twilio's spelling; repeated names allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(&'static str, String)>);

impl Form {
    fn set(&mut self, name: &'static str, value: impl ToString) {
        self.0.push((name, value.to_string()));
    }
    fn opt<T: ToString>(&mut self, name: &'static str, value: &Option<T>) {
        if let Some(v) = value {
            self.set(name, v.to_string());
        }
    }
    /// The parameter names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|(n, _)| *n)
    }
    /// The pairs.
    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.0
    }
}

/// The REST client. Cheap to clone; clones share connections and the fallback state.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    credentials: Arc<Credentials>,
    config: Arc<ClientConfig>,
    key_refused: Arc<AtomicBool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("credentials", &self.credentials)
            .field("api_base", &self.config.api_base)
            .finish()
    }
}

/// Installs the process-wide TLS provider once (ring, to keep builds light).
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Client {
    /// A client for `credentials`.
    pub fn new(credentials: Credentials, config: ClientConfig) -> Result<Self, ClientError> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("switchboard-twilio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Transport)?;
        Ok(Self::with_http(http, credentials, config))
    }

    /// A client sharing an existing connection pool.
    pub fn with_http(
        http: reqwest::Client,
        credentials: Credentials,
        config: ClientConfig,
    ) -> Self {
        Self {
            http,
            credentials: Arc::new(credentials),
            config: Arc::new(config),
            key_refused: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The account this client acts for.
    pub fn account_sid(&self) -> &str {
        &self.credentials.account_sid
    }

    /// Whether the API key was refused and the auth token is used instead.
    pub fn fell_back_to_auth_token(&self) -> bool {
        self.key_refused.load(Ordering::Relaxed)
    }

    fn basic_auth(&self) -> Result<(&str, &str, bool), ClientError> {
        let creds = &self.credentials;
        let refused = self.key_refused.load(Ordering::Relaxed);
        match (&creds.api_key, &creds.auth_token) {
            (Some((_, _)), Some(token)) if refused => Ok((&creds.account_sid, token, false)),
            (Some((sid, secret)), _) => Ok((sid, secret, true)),
            (None, Some(token)) => Ok((&creds.account_sid, token, false)),
            (None, None) => Err(ClientError::NoCredentials),
        }
    }

    fn api_url(&self, path: &str) -> String {
        format!("{}{}", self.config.api_base.trim_end_matches('/'), path)
    }

    fn intelligence_url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.config.intelligence_base.trim_end_matches('/'),
            path
        )
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16));
        retry_after
            .unwrap_or(exponential)
            .min(self.config.max_backoff)
    }

    /// Sends one logical request: authentication fallback, retries and error mapping.
    async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        form: Option<&Form>,
        extra_headers: &[(header::HeaderName, String)],
        retry: Retry,
    ) -> Result<reqwest::Response, ClientError> {
        let mut attempt = 0u32;
        loop {
            let (user, password, using_key) = self.basic_auth()?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .basic_auth(user, Some(password))
                .header(header::ACCEPT, "application/json");
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(form) = form {
                request = request.form(&form.0);
            }
            for (name, value) in extra_headers {
                request = request.header(name, value);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if retry == Retry::Safe && attempt < self.config.max_retries => {
                    tracing::debug!(error = %e, attempt, "Twilio request failed; retrying");
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(ClientError::Transport(e)),
            };
            let status = response.status();
            if using_key
                && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                && self.credentials.auth_token.is_some()
            {
                tracing::warn!(account = %self.credentials.account_sid, "Twilio refused the API key; using the auth token");
                self.key_refused.store(true, Ordering::Relaxed);
                continue;
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS
                || (retry == Retry::Safe && status.is_server_error());
            if retryable && attempt < self.config.max_retries {
                let wait = self.backoff(attempt, retry_after(&response));
                tracing::debug!(%status, attempt, ?wait, "Twilio asked us to retry");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if status.is_success() || status == StatusCode::PARTIAL_CONTENT {
                return Ok(response);
            }
            return Err(api_error(response).await);
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        form: Option<&Form>,
        retry: Retry,
    ) -> Result<T, ClientError> {
        let response = self.send(method, url, query, form, &[], retry).await?;
        let bytes = response.bytes().await.map_err(ClientError::Transport)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn account_path(&self, template: &str, sid: Option<&str>) -> String {
        let account = self.credentials.account_sid.as_str();
        let mut values = vec![("AccountSid", account)];
        if let Some(sid) = sid {
            values.push(("Sid", sid));
        }
        self.api_url(&fill_path(template, &values))
    }

    // ----- accounts -----

    /// Fetches the client's own account (a cheap credentials check).
    pub async fn fetch_account(&self) -> Result<Account, ClientError> {
        let url = self.api_url(&fill_path(
            paths::ACCOUNT,
            &[("Sid", &self.credentials.account_sid)],
        ));
        self.json(Method::GET, &url, &[], None, Retry::Safe).await
    }

    // ----- incoming phone numbers -----

    /// One page of the account's numbers.
    pub async fn list_incoming_phone_numbers(
        &self,
        page_size: u32,
    ) -> Result<IncomingPhoneNumberPage, ClientError> {
        let url = self.account_path(paths::INCOMING_PHONE_NUMBERS, None);
        self.json(
            Method::GET,
            &url,
            &[("PageSize", page_size.clamp(1, 1000).to_string())],
            None,
            Retry::Safe,
        )
        .await
    }

    /// The page after `page`, if there is one.
    pub async fn next_incoming_phone_numbers(
        &self,
        page: &IncomingPhoneNumberPage,
    ) -> Result<Option<IncomingPhoneNumberPage>, ClientError> {
        match &page.next_page_uri {
            Some(uri) if !uri.is_empty() => {
                let url = self.api_url(uri);
                self.json(Method::GET, &url, &[], None, Retry::Safe)
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Every number on the account, following pages (at most `limit`).
    pub async fn all_incoming_phone_numbers(
        &self,
        limit: usize,
    ) -> Result<Vec<IncomingPhoneNumber>, ClientError> {
        let mut page = self.list_incoming_phone_numbers(100).await?;
        let mut all = Vec::new();
        loop {
            all.append(&mut page.incoming_phone_numbers);
            if all.len() >= limit {
                all.truncate(limit);
                return Ok(all);
            }
            match self.next_incoming_phone_numbers(&page).await? {
                Some(next) => page = next,
                None => return Ok(all),
            }
        }
    }

    /// Fetches one number by its `PN…` sid.
    pub async fn fetch_incoming_phone_number(
        &self,
        sid: &str,
    ) -> Result<IncomingPhoneNumber, ClientError> {
        let url = self.account_path(paths::INCOMING_PHONE_NUMBER, Some(sid));
        self.json(Method::GET, &url, &[], None, Retry::Safe).await
    }

    /// Points a number's webhooks somewhere (absolute values, so safe to retry).
    pub async fn update_incoming_phone_number(
        &self,
        sid: &str,
        update: &NumberWebhooks,
    ) -> Result<IncomingPhoneNumber, ClientError> {
        let url = self.account_path(paths::INCOMING_PHONE_NUMBER, Some(sid));
        self.json(
            Method::POST,
            &url,
            &[],
            Some(&update.to_form()),
            Retry::Safe,
        )
        .await
    }

    /// Buys a number.
    pub async fn purchase_incoming_phone_number(
        &self,
        purchase: &PurchaseNumber,
    ) -> Result<IncomingPhoneNumber, ClientError> {
        let url = self.account_path(paths::INCOMING_PHONE_NUMBERS, None);
        self.json(
            Method::POST,
            &url,
            &[],
            Some(&purchase.to_form()),
            Retry::OnlyIfRefused,
        )
        .await
    }

    /// Releases (deletes) a number from the account.
    pub async fn release_incoming_phone_number(&self, sid: &str) -> Result<(), ClientError> {
        let url = self.account_path(paths::INCOMING_PHONE_NUMBER, Some(sid));
        self.send(Method::DELETE, &url, &[], None, &[], Retry::Safe)
            .await
            .map(drop)
    }

    /// Deletes a recording (its audio and metadata) from the account. A recording that
    /// is already gone (404) counts as deleted, so the call is safe to repeat.
    pub async fn delete_recording(&self, sid: &str) -> Result<(), ClientError> {
        let url = self.account_path(paths::RECORDING, Some(sid));
        match self
            .send(Method::DELETE, &url, &[], None, &[], Retry::Safe)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes a Voice Intelligence transcript (its sentences and operator results go
    /// with it). Already gone (404) counts as deleted.
    pub async fn delete_transcript(&self, sid: &str) -> Result<(), ClientError> {
        let url = self.intelligence_url(&fill_path(paths::TRANSCRIPT, &[("Sid", sid)]));
        match self
            .send(Method::DELETE, &url, &[], None, &[], Retry::Safe)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Searches numbers for sale.
    pub async fn search_available_phone_numbers(
        &self,
        search: &AvailableNumberSearch,
    ) -> Result<Vec<AvailablePhoneNumber>, ClientError> {
        let template = if search.toll_free {
            paths::AVAILABLE_TOLL_FREE
        } else {
            paths::AVAILABLE_LOCAL
        };
        let path = fill_path(
            template,
            &[
                ("AccountSid", &self.credentials.account_sid),
                ("CountryCode", &search.country_code),
            ],
        );
        let query: Vec<(&str, String)> = search.to_query().0.into_iter().collect();
        let page: AvailablePhoneNumberPage = self
            .json(Method::GET, &self.api_url(&path), &query, None, Retry::Safe)
            .await?;
        Ok(page.available_phone_numbers)
    }

    // ----- calls -----

    /// Starts an outbound call. Never retried after it may have reached Twilio.
    pub async fn create_call(&self, call: &CreateCall) -> Result<Call, ClientError> {
        let url = self.account_path(paths::CALLS, None);
        self.json(
            Method::POST,
            &url,
            &[],
            Some(&call.to_form()),
            Retry::OnlyIfRefused,
        )
        .await
    }

    /// Fetches a call.
    pub async fn fetch_call(&self, sid: &str) -> Result<Call, ClientError> {
        let url = self.account_path(paths::CALL, Some(sid));
        self.json(Method::GET, &url, &[], None, Retry::Safe).await
    }

    /// Redirects or ends a live call.
    pub async fn update_call(&self, sid: &str, update: &UpdateCall) -> Result<Call, ClientError> {
        let url = self.account_path(paths::CALL, Some(sid));
        self.json(
            Method::POST,
            &url,
            &[],
            Some(&update.to_form()),
            Retry::Safe,
        )
        .await
    }

    // ----- messages -----

    /// Sends a message. Never retried after it may have reached Twilio.
    pub async fn create_message(&self, message: &CreateMessage) -> Result<Message, ClientError> {
        let url = self.account_path(paths::MESSAGES, None);
        self.json(
            Method::POST,
            &url,
            &[],
            Some(&message.to_form()),
            Retry::OnlyIfRefused,
        )
        .await
    }

    /// Fetches a message.
    pub async fn fetch_message(&self, sid: &str) -> Result<Message, ClientError> {
        let url = self.account_path(paths::MESSAGE, Some(sid));
        self.json(Method::GET, &url, &[], None, Retry::Safe).await
    }

    // ----- recordings -----

    /// Fetches a recording's metadata.
    pub async fn fetch_recording(&self, sid: &str) -> Result<Recording, ClientError> {
        let url = self.account_path(paths::RECORDING, Some(sid));
        self.json(Method::GET, &url, &[], None, Retry::Safe).await
    }

    /// Opens a recording's audio as a byte stream. `range` is an HTTP `Range` header
    /// value passed through to Twilio (for seeking in a browser's audio player).
    pub async fn recording_media(
        &self,
        sid: &str,
        format: MediaFormat,
        range: Option<&str>,
    ) -> Result<MediaResponse, ClientError> {
        let json_url = self.account_path(paths::RECORDING, Some(sid));
        let url = format!(
            "{}.{}",
            json_url.trim_end_matches(".json"),
            format.extension()
        );
        let headers: Vec<(header::HeaderName, String)> = range
            .map(|r| (header::RANGE, r.to_owned()))
            .into_iter()
            .collect();
        let response = self
            .send(Method::GET, &url, &[], None, &headers, Retry::Safe)
            .await?;
        Ok(MediaResponse::new(response, format))
    }

    // ----- Voice Intelligence -----

    /// Creates a transcript of a recording in a Voice Intelligence service.
    pub async fn create_transcript(
        &self,
        create: &CreateTranscript,
    ) -> Result<Transcript, ClientError> {
        let url = self.intelligence_url(paths::TRANSCRIPTS);
        self.json(
            Method::POST,
            &url,
            &[],
            Some(&create.to_form()),
            Retry::OnlyIfRefused,
        )
        .await
    }

    /// Fetches a transcript.
    pub async fn fetch_transcript(&self, sid: &str) -> Result<Transcript, ClientError> {
        let url = self.intelligence_url(&fill_path(paths::TRANSCRIPT, &[("Sid", sid)]));
        self.json(Method::GET, &url, &[], None, Retry::Safe).await
    }

    /// The language operators' results on a transcript (summaries, classifications).
    pub async fn operator_results(
        &self,
        transcript_sid: &str,
    ) -> Result<Vec<OperatorResult>, ClientError> {
        let url = self.intelligence_url(&fill_path(
            paths::OPERATOR_RESULTS,
            &[("TranscriptSid", transcript_sid)],
        ));
        let page: OperatorResultPage = self.json(Method::GET, &url, &[], None, Retry::Safe).await?;
        Ok(page.operator_results)
    }

    /// Every sentence of a transcript, following `meta.next_page_url` (at most
    /// `max_pages` pages). The next page is fetched from the configured Intelligence
    /// base with the path and query Twilio named, so credentials never go to another
    /// host.
    pub async fn transcript_sentences(
        &self,
        transcript_sid: &str,
        max_pages: usize,
    ) -> Result<Vec<Sentence>, ClientError> {
        let mut url = self.intelligence_url(&fill_path(
            paths::SENTENCES,
            &[("TranscriptSid", transcript_sid)],
        ));
        let mut query = vec![("PageSize", "100".to_owned())];
        let mut sentences = Vec::new();
        for _ in 0..max_pages.max(1) {
            let page: SentencePage = self
                .json(Method::GET, &url, &query, None, Retry::Safe)
                .await?;
            sentences.extend(page.sentences);
            let Some(next) = page.meta.and_then(|m| m.next_page_url) else {
                break;
            };
            let Ok(next) = url::Url::parse(&next) else {
                break;
            };
            url = self.intelligence_url(next.path());
            query = next
                .query_pairs()
                .filter_map(|(k, v)| Some((page_query_key(&k)?, v.into_owned())))
                .collect();
        }
        sentences.sort_by_key(|s| s.sentence_index);
        Ok(sentences)
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

async fn api_error(response: reqwest::Response) -> ClientError {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ApiError>(&body) {
        Ok(mut error) => {
            error.status = status;
            ClientError::Api(error)
        }
        Err(_) => ClientError::Api(ApiError {
            status,
            code: None,
            message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            more_info: None,
        }),
    }
}

// ----- resources -----

/// An account (`GET /2010-04-01/Accounts/{Sid}.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `AC…`.
    pub sid: String,
    /// Display name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `active`, `suspended`, `closed`.
    #[serde(default)]
    pub status: Option<String>,
    /// `Trial` or `Full`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Voice and messaging capabilities of a number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Can receive and make calls.
    #[serde(default)]
    pub voice: bool,
    /// Can send and receive SMS.
    #[serde(default, alias = "SMS")]
    pub sms: bool,
    /// Can send and receive MMS.
    #[serde(default, alias = "MMS")]
    pub mms: bool,
}

/// A number owned by the account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingPhoneNumber {
    /// `PN…`.
    pub sid: String,
    /// Owning account.
    #[serde(default)]
    pub account_sid: String,
    /// E.164.
    pub phone_number: String,
    /// Display name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Where incoming calls are sent.
    #[serde(default)]
    pub voice_url: Option<String>,
    /// `GET` or `POST`.
    #[serde(default)]
    pub voice_method: Option<String>,
    /// Where call status is reported.
    #[serde(default)]
    pub status_callback: Option<String>,
    /// `GET` or `POST`.
    #[serde(default)]
    pub status_callback_method: Option<String>,
    /// Where incoming messages are sent.
    #[serde(default)]
    pub sms_url: Option<String>,
    /// `GET` or `POST`.
    #[serde(default)]
    pub sms_method: Option<String>,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// One page of `IncomingPhoneNumbers.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingPhoneNumberPage {
    /// The numbers on this page.
    #[serde(default)]
    pub incoming_phone_numbers: Vec<IncomingPhoneNumber>,
    /// Path of the next page, when there is one.
    #[serde(default)]
    pub next_page_uri: Option<String>,
    /// Zero-based page index.
    #[serde(default)]
    pub page: u32,
    /// Page size.
    #[serde(default)]
    pub page_size: u32,
}

/// Where a number's webhooks point (the update request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberWebhooks {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `VoiceUrl`.
    pub voice_url: Option<String>,
    /// `VoiceMethod`.
    pub voice_method: Option<String>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
    /// `StatusCallbackMethod`.
    pub status_callback_method: Option<String>,
    /// `SmsUrl`.
    pub sms_url: Option<String>,
    /// `SmsMethod`.
    pub sms_method: Option<String>,
}

impl NumberWebhooks {
    /// All three webhooks pointed at `base` + Switchboard's paths, method POST.
    pub fn switchboard(
        public_url: &str,
        voice_path: &str,
        status_path: &str,
        sms_path: &str,
    ) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            friendly_name: None,
            voice_url: Some(format!("{base}{voice_path}")),
            voice_method: Some("POST".into()),
            status_callback: Some(format!("{base}{status_path}")),
            status_callback_method: Some("POST".into()),
            sms_url: Some(format!("{base}{sms_path}")),
            sms_method: Some("POST".into()),
        }
    }

    /// The form Twilio expects.
    pub fn to_form(&self) -> Form {
        let mut f = Form::default();
        f.opt("FriendlyName", &self.friendly_name);
        f.opt("VoiceUrl", &self.voice_url);
        f.opt("VoiceMethod", &self.voice_method);
        f.opt("StatusCallback", &self.status_callback);
        f.opt("StatusCallbackMethod", &self.status_callback_method);
        f.opt("SmsUrl", &self.sms_url);
        f.opt("SmsMethod", &self.sms_method);
        f
    }
}

/// Buying a number: a specific one, or any in an area code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurchaseNumber {
    /// `PhoneNumber` (E.164) from a search.
    pub phone_number: Option<String>,
    /// `AreaCode`: any number in it.
    pub area_code: Option<String>,
    /// Webhooks to set on the new number.
    pub webhooks: NumberWebhooks,
}

impl PurchaseNumber {
    /// The form Twilio expects.
    pub fn to_form(&self) -> Form {
        let mut f = self.webhooks.to_form();
        f.opt("PhoneNumber", &self.phone_number);
        f.opt("AreaCode", &self.area_code);
        f
    }
}

/// A search for numbers to buy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvailableNumberSearch {
    /// ISO country, e.g. `US`.
    pub country_code: String,
    /// Toll-free instead of local.
    pub toll_free: bool,
    /// `AreaCode`.
    pub area_code: Option<String>,
    /// `Contains`: a pattern such as `555***1234`.
    pub contains: Option<String>,
    /// `InRegion`: state or province.
    pub in_region: Option<String>,
    /// `VoiceEnabled`.
    pub voice_enabled: Option<bool>,
    /// `SmsEnabled`.
    pub sms_enabled: Option<bool>,
    /// `PageSize`.
    pub page_size: Option<u32>,
}

impl AvailableNumberSearch {
    /// The query parameters.
    pub fn to_query(&self) -> Form {
        let mut f = Form::default();
        f.opt("AreaCode", &self.area_code);
        f.opt("Contains", &self.contains);
        f.opt("InRegion", &self.in_region);
        f.opt("VoiceEnabled", &self.voice_enabled);
        f.opt("SmsEnabled", &self.sms_enabled);
        f.opt("PageSize", &self.page_size);
        f
    }
}

/// A number for sale.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailablePhoneNumber {
    /// E.164.
    pub phone_number: String,
    /// Display form.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// City.
    #[serde(default)]
    pub locality: Option<String>,
    /// State or province.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO country.
    #[serde(default)]
    pub iso_country: Option<String>,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug, Deserialize)]
struct AvailablePhoneNumberPage {
    #[serde(default)]
    available_phone_numbers: Vec<AvailablePhoneNumber>,
}

/// A call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// `CA…`.
    pub sid: String,
    /// Owning account.
    #[serde(default)]
    pub account_sid: String,
    /// Parent call, for dialed legs.
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    /// Caller.
    #[serde(default)]
    pub from: String,
    /// Callee.
    #[serde(default)]
    pub to: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, …
    #[serde(default)]
    pub status: String,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    #[serde(default)]
    pub direction: Option<String>,
    /// Seconds, as text.
    #[serde(default)]
    pub duration: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub start_time: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub end_time: Option<String>,
    /// Decimal text, negative for charges.
    #[serde(default)]
    pub price: Option<String>,
    /// ISO currency.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// Answering-machine detection result.
    #[serde(default)]
    pub answered_by: Option<String>,
}

/// Starting an outbound call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateCall {
    /// `To`.
    pub to: String,
    /// `From`: one of the account's numbers.
    pub from: String,
    /// `Url`: where to fetch the TwiML.
    pub url: Option<String>,
    /// `Twiml`: inline TwiML instead of `Url`.
    pub twiml: Option<String>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
    /// `StatusCallbackEvent`, sent as repeated parameters.
    pub status_callback_events: Vec<String>,
    /// `StatusCallbackMethod`.
    pub status_callback_method: Option<String>,
    /// `Timeout`: seconds to ring.
    pub timeout: Option<u32>,
    /// `Record`.
    pub record: Option<bool>,
    /// `RecordingStatusCallback`.
    pub recording_status_callback: Option<String>,
    /// `CallerId` (for client calls).
    pub caller_id: Option<String>,
}

impl CreateCall {
    /// The form Twilio expects.
    pub fn to_form(&self) -> Form {
        let mut f = Form::default();
        f.set("To", &self.to);
        f.set("From", &self.from);
        f.opt("Url", &self.url);
        f.opt("Twiml", &self.twiml);
        f.opt("StatusCallback", &self.status_callback);
        for event in &self.status_callback_events {
            f.set("StatusCallbackEvent", event);
        }
        f.opt("StatusCallbackMethod", &self.status_callback_method);
        f.opt("Timeout", &self.timeout);
        f.opt("Record", &self.record);
        f.opt("RecordingStatusCallback", &self.recording_status_callback);
        f.opt("CallerId", &self.caller_id);
        f
    }
}

/// Changing a live call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCall {
    /// `Status`: `completed` (hang up) or `canceled` (if not yet answered).
    pub status: Option<String>,
    /// `Url`: new TwiML to follow.
    pub url: Option<String>,
    /// `Twiml`: inline TwiML to follow.
    pub twiml: Option<String>,
}

impl UpdateCall {
    /// The form Twilio expects.
    pub fn to_form(&self) -> Form {
        let mut f = Form::default();
        f.opt("Status", &self.status);
        f.opt("Url", &self.url);
        f.opt("Twiml", &self.twiml);
        f
    }
}

/// A message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `SM…` or `MM…`.
    pub sid: String,
    /// Owning account.
    #[serde(default)]
    pub account_sid: String,
    /// Sender.
    #[serde(default)]
    pub from: Option<String>,
    /// Recipient.
    #[serde(default)]
    pub to: String,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// `queued`, `sent`, `delivered`, …
    #[serde(default)]
    pub status: String,
    /// `inbound`, `outbound-api`, …
    #[serde(default)]
    pub direction: Option<String>,
    /// Segments, as text.
    #[serde(default)]
    pub num_segments: Option<String>,
    /// Error code on failure.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Error text on failure.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Decimal text.
    #[serde(default)]
    pub price: Option<String>,
    /// ISO currency.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub date_sent: Option<String>,
}

/// Sending a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateMessage {
    /// `To`.
    pub to: String,
    /// `From`: one of the account's numbers.
    pub from: Option<String>,
    /// `MessagingServiceSid`, instead of `From`.
    pub messaging_service_sid: Option<String>,
    /// `Body`.
    pub body: String,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
}

impl CreateMessage {
    /// A text from `from` to `to`.
    pub fn new(to: impl Into<String>, from: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            from: Some(from.into()),
            body: body.into(),
            ..Self::default()
        }
    }

    /// The form Twilio expects.
    pub fn to_form(&self) -> Form {
        let mut f = Form::default();
        f.set("To", &self.to);
        f.opt("From", &self.from);
        f.opt("MessagingServiceSid", &self.messaging_service_sid);
        f.set("Body", &self.body);
        f.opt("StatusCallback", &self.status_callback);
        f
    }
}

/// A recording's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// `RE…`.
    pub sid: String,
    /// Owning account.
    #[serde(default)]
    pub account_sid: String,
    /// The recorded call.
    #[serde(default)]
    pub call_sid: Option<String>,
    /// Seconds, as text.
    #[serde(default)]
    pub duration: Option<String>,
    /// `processing`, `completed`, …
    #[serde(default)]
    pub status: Option<String>,
    /// 1 or 2.
    #[serde(default)]
    pub channels: Option<u8>,
    /// `DialVerb`, `RecordVerb`, …
    #[serde(default)]
    pub source: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Decimal text.
    #[serde(default)]
    pub price: Option<String>,
    /// ISO currency.
    #[serde(default)]
    pub price_unit: Option<String>,
}

/// Audio formats Twilio serves recordings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    /// `audio/mpeg`.
    Mp3,
    /// `audio/x-wav`.
    Wav,
}

impl MediaFormat {
    /// The path suffix.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Wav => "wav",
        }
    }

    /// The content type to send when Twilio does not say.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Wav => "audio/x-wav",
        }
    }
}

/// A recording's audio, ready to be streamed on.
#[derive(Debug)]
pub struct MediaResponse {
    /// 200, or 206 for a range.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Length`, when known.
    pub content_length: Option<u64>,
    /// `Content-Range`, on 206.
    pub content_range: Option<String>,
    response: reqwest::Response,
}

impl MediaResponse {
    fn new(response: reqwest::Response, format: MediaFormat) -> Self {
        let headers = response.headers();
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            status: response.status().as_u16(),
            content_type: text(header::CONTENT_TYPE)
                .unwrap_or_else(|| format.content_type().to_owned()),
            content_length: response.content_length(),
            content_range: text(header::CONTENT_RANGE),
            response,
        }
    }

    /// The audio bytes as they arrive.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, reqwest::Error>> {
        self.response.bytes_stream()
    }
}

/// A Voice Intelligence transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// `GT…`.
    pub sid: String,
    /// Owning account.
    #[serde(default)]
    pub account_sid: String,
    /// The Intelligence service (`GA…`).
    #[serde(default)]
    pub service_sid: String,
    /// `queued`, `in-progress`, `completed`, `failed`, `canceled`.
    #[serde(default)]
    pub status: String,
    /// The key given at creation (we use the CallSid).
    #[serde(default)]
    pub customer_key: Option<String>,
    /// Seconds of media.
    #[serde(default)]
    pub duration: Option<u32>,
    /// Language of the transcript.
    #[serde(default)]
    pub language_code: Option<String>,
}

/// Creating a transcript from a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateTranscript {
    /// `ServiceSid`.
    pub service_sid: String,
    /// The recording (`RE…`) to transcribe.
    pub recording_sid: String,
    /// `CustomerKey`: ours to correlate the webhook.
    pub customer_key: Option<String>,
}

impl CreateTranscript {
    /// The form Twilio expects (`Channel` is a JSON document naming the source).
    pub fn to_form(&self) -> Form {
        let mut f = Form::default();
        f.set("ServiceSid", &self.service_sid);
        let channel =
            serde_json::json!({ "media_properties": { "source_sid": self.recording_sid } });
        f.set("Channel", channel);
        f.opt("CustomerKey", &self.customer_key);
        f
    }
}

/// One language operator's result on a transcript.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorResult {
    /// `conversation-classify`, `text-generation`, `extract`, …
    #[serde(default)]
    pub operator_type: String,
    /// The operator's name, e.g. `Conversation Summary`.
    #[serde(default)]
    pub name: String,
    /// `LY…`.
    #[serde(default)]
    pub operator_sid: Option<String>,
    /// Classification label.
    #[serde(default)]
    pub predicted_label: Option<String>,
    /// Classification confidence.
    #[serde(default)]
    pub predicted_probability: Option<f64>,
    /// Generated text, for text-generation operators (`{"result": "…"}`).
    #[serde(default)]
    pub text_generation_results: Option<serde_json::Value>,
    /// The transcript.
    #[serde(default)]
    pub transcript_sid: Option<String>,
}

impl OperatorResult {
    /// The generated text, for text-generation operators.
    pub fn generated_text(&self) -> Option<&str> {
        let value = self.text_generation_results.as_ref()?;
        value
            .get("result")
            .and_then(|v| v.as_str())
            .or_else(|| value.as_str())
            .filter(|s| !s.trim().is_empty())
    }
}

/// The query keys of a sentences page Twilio may name in `next_page_url`; others are
/// dropped.
fn page_query_key(key: &str) -> Option<&'static str> {
    ["PageSize", "Page", "PageToken", "Redacted"]
        .into_iter()
        .find(|k| *k == key)
}

/// One sentence of a Voice Intelligence transcript.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    /// The recording channel it was heard on (1 and 2 on a dual-channel recording).
    #[serde(default)]
    pub media_channel: i64,
    /// Its position in the transcript.
    #[serde(default)]
    pub sentence_index: i64,
    /// The words.
    #[serde(default)]
    pub transcript: Option<String>,
    /// `GX…`.
    #[serde(default)]
    pub sid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SentencePage {
    #[serde(default)]
    sentences: Vec<Sentence>,
    #[serde(default)]
    meta: Option<PageMeta>,
}

#[derive(Debug, Deserialize)]
struct PageMeta {
    #[serde(default)]
    next_page_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OperatorResultPage {
    #[serde(default)]
    operator_results: Vec<OperatorResult>,
}

#[cfg(test)]
mod tests;
