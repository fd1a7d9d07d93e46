use super::*;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use std::sync::Mutex;

/// What the test server saw and how it should answer.
#[derive(Default)]
struct Script {
    /// Status codes to answer before succeeding.
    failures: Vec<(u16, Option<&'static str>)>,
    /// Authorization headers seen, in order.
    seen_auth: Vec<String>,
    /// Form bodies seen.
    seen_bodies: Vec<String>,
    /// Refuse the API key (401) whatever else happens.
    refuse_key: bool,
}

type Shared = Arc<Mutex<Script>>;

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

async fn handler(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut script = state.lock().expect("lock");
    script.seen_auth.push(auth.clone());
    script.seen_bodies.push(body);
    if script.refuse_key && auth == basic("SK1", "keysecret") {
        return (AxStatus::UNAUTHORIZED, r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#).into_response();
    }
    if !script.failures.is_empty() {
        let (status, retry_after) = script.failures.remove(0);
        let mut response = (
            AxStatus::from_u16(status).expect("status"),
            format!(r#"{{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":{status}}}"#),
        )
            .into_response();
        if let Some(ra) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", ra.parse().expect("header"));
        }
        return response;
    }
    (
        [("content-type", "application/json")],
        r#"{"sid":"CA123","account_sid":"AC1","from":"+15551230001","to":"+15557654321","status":"queued","direction":"outbound-api"}"#,
    )
        .into_response()
}

async fn not_found() -> impl IntoResponse {
    (
        AxStatus::NOT_FOUND,
        r#"{"code":20404,"message":"The requested resource /2010-04-01/Accounts/AC1/Calls/CAnope.json was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#,
    )
}

async fn numbers_page(axum::extract::RawQuery(q): axum::extract::RawQuery) -> impl IntoResponse {
    let q = q.unwrap_or_default();
    let body = if q.contains("Page=1") {
        r#"{"incoming_phone_numbers":[{"sid":"PN2","account_sid":"AC1","phone_number":"+15551230002"}],"next_page_uri":null,"page":1,"page_size":1}"#
    } else {
        r#"{"incoming_phone_numbers":[{"sid":"PN1","account_sid":"AC1","phone_number":"+15551230001","capabilities":{"voice":true,"sms":true,"mms":false}}],"next_page_uri":"/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json?PageSize=1&Page=1&PageToken=PA1","page":0,"page_size":1}"#
    };
    ([("content-type", "application/json")], body)
}

async fn server(script: Script) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(script));
    let app = Router::new()
        .route("/2010-04-01/Accounts/AC1/Calls/CAnope.json", get(not_found))
        .route(
            "/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json",
            get(numbers_page),
        )
        .fallback(any(handler))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state)
}

fn fast_config(base: &str) -> ClientConfig {
    ClientConfig {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..ClientConfig::with_base(base)
    }
}

fn key_client(base: &str) -> Client {
    Client::new(
        Credentials::api_key("AC1", "SK1", "keysecret", Some("authtoken".into())),
        fast_config(base),
    )
    .expect("client")
}

#[tokio::test]
async fn uses_the_api_key_first() {
    let (base, state) = server(Script::default()).await;
    let call = key_client(&base).fetch_call("CA123").await.expect("fetch");
    assert_eq!(call.sid, "CA123");
    assert_eq!(
        state.lock().expect("lock").seen_auth,
        vec![basic("SK1", "keysecret")]
    );
}

#[tokio::test]
async fn falls_back_to_the_auth_token_and_remembers() {
    let (base, state) = server(Script {
        refuse_key: true,
        ..Script::default()
    })
    .await;
    let client = key_client(&base);
    client.fetch_call("CA123").await.expect("first");
    assert!(client.fell_back_to_auth_token());
    client.fetch_call("CA123").await.expect("second");
    let seen = state.lock().expect("lock").seen_auth.clone();
    assert_eq!(
        seen,
        vec![
            basic("SK1", "keysecret"),
            basic("AC1", "authtoken"),
            basic("AC1", "authtoken")
        ]
    );
}

#[tokio::test]
async fn retries_429_honouring_retry_after_and_5xx_on_reads() {
    let (base, state) = server(Script {
        failures: vec![(429, Some("0")), (503, None), (500, None)],
        ..Script::default()
    })
    .await;
    let call = key_client(&base)
        .fetch_call("CA123")
        .await
        .expect("fetch after retries");
    assert_eq!(call.status, "queued");
    assert_eq!(state.lock().expect("lock").seen_auth.len(), 4);
}

#[tokio::test]
async fn gives_up_after_max_retries_with_twilios_error() {
    let (base, state) = server(Script {
        failures: vec![(503, None); 10],
        ..Script::default()
    })
    .await;
    let err = key_client(&base)
        .fetch_call("CA123")
        .await
        .expect_err("fails");
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        state.lock().expect("lock").seen_auth.len(),
        4,
        "one attempt plus three retries"
    );
}

#[tokio::test]
async fn creating_a_call_is_not_retried_on_5xx_but_is_on_429() {
    let (base, state) = server(Script {
        failures: vec![(500, None)],
        ..Script::default()
    })
    .await;
    let client = key_client(&base);
    let create = CreateCall {
        to: "+15557654321".into(),
        from: "+15551230001".into(),
        url: Some("https://sb.example.com/api/twilio/voice/client".into()),
        status_callback_events: vec!["initiated".into(), "completed".into()],
        ..CreateCall::default()
    };
    let err = client
        .create_call(&create)
        .await
        .expect_err("500 is final for a create");
    assert_eq!(err.status(), Some(500));
    assert_eq!(state.lock().expect("lock").seen_auth.len(), 1);

    state.lock().expect("lock").failures = vec![(429, Some("0"))];
    client.create_call(&create).await.expect("429 is retried");
    let bodies = state.lock().expect("lock").seen_bodies.clone();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies[2].contains("StatusCallbackEvent=initiated&StatusCallbackEvent=completed"),
        "repeated keys on the wire: {}",
        bodies[2]
    );
}

#[tokio::test]
async fn twilio_error_body_is_typed() {
    let (base, _) = server(Script::default()).await;
    match key_client(&base).fetch_call("CAnope").await {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.status, 404);
            assert_eq!(e.code, Some(20404));
            assert!(e.more_info.as_deref().is_some_and(|m| m.contains("20404")));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn follows_pages() {
    let (base, _) = server(Script::default()).await;
    let numbers = key_client(&base)
        .all_incoming_phone_numbers(50)
        .await
        .expect("list");
    let sids: Vec<_> = numbers.iter().map(|n| n.sid.as_str()).collect();
    assert_eq!(sids, ["PN1", "PN2"]);
    assert_eq!(numbers[0].capabilities.as_ref().map(|c| c.sms), Some(true));
}

#[tokio::test]
async fn unreachable_twilio_is_a_transport_error() {
    let client = Client::new(
        Credentials::auth_token("AC1", "t"),
        ClientConfig {
            max_retries: 1,
            ..fast_config("http://127.0.0.1:9")
        },
    )
    .expect("client");
    assert!(matches!(
        client.fetch_account().await,
        Err(ClientError::Transport(_))
    ));
}

#[test]
fn credentials_never_show_secrets_in_debug() {
    let creds = Credentials::api_key("AC1", "SK1", "keysecret", Some("authtoken".into()));
    let shown = format!("{creds:?}");
    assert!(
        !shown.contains("keysecret") && !shown.contains("authtoken"),
        "{shown}"
    );
}

#[test]
fn fill_path_encodes_values() {
    assert_eq!(
        fill_path(paths::CALL, &[("AccountSid", "AC1"), ("Sid", "CA/x y")]),
        "/2010-04-01/Accounts/AC1/Calls/CA%2Fx%20y.json"
    );
}

#[test]
fn operator_result_text() {
    let r: OperatorResult = serde_json::from_str(r#"{"operator_type":"text-generation","name":"Conversation Summary","text_generation_results":{"format":"text","result":"Caller booked a cleaning."}}"#).expect("json");
    assert_eq!(r.generated_text(), Some("Caller booked a cleaning."));
}

/// Checks paths, parameter names and response fields against Twilio's OpenAPI specs.
mod spec {
    use super::*;
    use serde_json::Value;

    fn spec_dir() -> Option<std::path::PathBuf> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/twilio-oai");
        if dir.join("twilio_api_v2010.json").exists() {
            Some(dir)
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have ../shared/twilio-oai beside the checkout"
            );
            eprintln!("skipping OpenAPI checks: ../shared/twilio-oai is not beside this checkout");
            None
        }
    }

    fn load(name: &str) -> Option<Value> {
        let dir = spec_dir()?;
        let text = std::fs::read_to_string(dir.join(name)).expect("read spec");
        Some(serde_json::from_str(&text).expect("parse spec"))
    }

    fn operation<'a>(spec: &'a Value, path: &str, method: &str) -> &'a Value {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the spec");
        op
    }

    fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                &spec["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    fn request_properties<'a>(spec: &'a Value, path: &str, method: &str) -> &'a Value {
        &operation(spec, path, method)["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"]["properties"]
    }

    fn query_names(spec: &Value, path: &str) -> Vec<String> {
        operation(spec, path, "get")["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }

    fn response_properties<'a>(spec: &'a Value, path: &str, method: &str, code: &str) -> &'a Value {
        let schema = &operation(spec, path, method)["responses"][code]["content"]["application/json"]
            ["schema"];
        &resolve(spec, schema)["properties"]
    }

    fn assert_form_in(form: &Form, props: &Value, what: &str) {
        for name in form.names() {
            assert!(
                props.get(name).is_some(),
                "{what}: parameter {name} is not in the spec"
            );
        }
    }

    fn assert_fields_in<T: Serialize + Default>(props: &Value, what: &str) {
        let value = serde_json::to_value(T::default()).expect("serialize");
        for key in value.as_object().expect("object").keys() {
            assert!(
                props.get(key).is_some(),
                "{what}: field {key} is not in the spec"
            );
        }
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn api_v2010_paths_parameters_and_fields() {
        let Some(spec) = load("twilio_api_v2010.json") else {
            return;
        };
        operation(&spec, paths::ACCOUNT, "get");
        assert_fields_in::<Account>(
            response_properties(&spec, paths::ACCOUNT, "get", "200"),
            "Account",
        );

        operation(&spec, paths::INCOMING_PHONE_NUMBERS, "get");
        assert_fields_in::<IncomingPhoneNumberPage>(
            response_properties(&spec, paths::INCOMING_PHONE_NUMBERS, "get", "200"),
            "IncomingPhoneNumberPage",
        );
        assert!(query_names(&spec, paths::INCOMING_PHONE_NUMBERS).contains(&"PageSize".to_owned()));
        assert_fields_in::<IncomingPhoneNumber>(
            response_properties(&spec, paths::INCOMING_PHONE_NUMBER, "get", "200"),
            "IncomingPhoneNumber",
        );
        operation(&spec, paths::INCOMING_PHONE_NUMBER, "delete");
        let webhooks = NumberWebhooks {
            friendly_name: some("x"),
            ..NumberWebhooks::switchboard("https://x", "/v", "/s", "/m")
        };
        assert_form_in(
            &webhooks.to_form(),
            request_properties(&spec, paths::INCOMING_PHONE_NUMBER, "post"),
            "update number",
        );
        let purchase = PurchaseNumber {
            phone_number: some("+15551230001"),
            area_code: some("555"),
            webhooks,
        };
        assert_form_in(
            &purchase.to_form(),
            request_properties(&spec, paths::INCOMING_PHONE_NUMBERS, "post"),
            "purchase",
        );

        for template in [paths::AVAILABLE_LOCAL, paths::AVAILABLE_TOLL_FREE] {
            let names = query_names(&spec, template);
            let search = AvailableNumberSearch {
                country_code: "US".into(),
                toll_free: false,
                area_code: some("555"),
                contains: some("555"),
                in_region: some("TX"),
                voice_enabled: Some(true),
                sms_enabled: Some(true),
                page_size: Some(20),
            };
            for name in search.to_query().names() {
                assert!(
                    names.iter().any(|n| n == name),
                    "search parameter {name} not in {template}"
                );
            }
        }
        let item = &spec["components"]["schemas"]["api.v2010.account.available_phone_number_country.available_phone_number_local"]
            ["properties"];
        assert_fields_in::<AvailablePhoneNumber>(item, "AvailablePhoneNumber");

        let create = CreateCall {
            to: "+1".into(),
            from: "+1".into(),
            url: some("u"),
            twiml: some("t"),
            status_callback: some("s"),
            status_callback_events: vec!["initiated".into()],
            status_callback_method: some("POST"),
            timeout: Some(30),
            record: Some(true),
            recording_status_callback: some("r"),
            caller_id: some("c"),
        };
        assert_form_in(
            &create.to_form(),
            request_properties(&spec, paths::CALLS, "post"),
            "create call",
        );
        assert_fields_in::<Call>(
            response_properties(&spec, paths::CALLS, "post", "201"),
            "Call",
        );
        operation(&spec, paths::CALL, "get");
        let update = UpdateCall {
            status: some("completed"),
            url: some("u"),
            twiml: some("t"),
        };
        assert_form_in(
            &update.to_form(),
            request_properties(&spec, paths::CALL, "post"),
            "update call",
        );

        let message = CreateMessage {
            messaging_service_sid: some("MG1"),
            status_callback: some("s"),
            ..CreateMessage::new("+1", "+1", "hi")
        };
        assert_form_in(
            &message.to_form(),
            request_properties(&spec, paths::MESSAGES, "post"),
            "create message",
        );
        assert_fields_in::<Message>(
            response_properties(&spec, paths::MESSAGES, "post", "201"),
            "Message",
        );
        operation(&spec, paths::MESSAGE, "get");

        assert_fields_in::<Recording>(
            response_properties(&spec, paths::RECORDING, "get", "200"),
            "Recording",
        );
    }

    #[test]
    fn intelligence_v2_paths_parameters_and_fields() {
        let Some(spec) = load("twilio_intelligence_v2.json") else {
            return;
        };
        let create = CreateTranscript {
            service_sid: "GA1".into(),
            recording_sid: "RE1".into(),
            customer_key: some("CA1"),
        };
        assert_form_in(
            &create.to_form(),
            request_properties(&spec, paths::TRANSCRIPTS, "post"),
            "create transcript",
        );
        assert_fields_in::<Transcript>(
            response_properties(&spec, paths::TRANSCRIPTS, "post", "202"),
            "Transcript",
        );
        operation(&spec, paths::TRANSCRIPT, "get");
        let results = response_properties(&spec, paths::OPERATOR_RESULTS, "get", "200");
        assert!(results.get("operator_results").is_some());
        let item = &spec["components"]["schemas"]["intelligence.v2.transcript.operator_result"]["properties"];
        assert_fields_in::<OperatorResult>(item, "OperatorResult");
    }
}
