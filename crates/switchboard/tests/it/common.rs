//! Starting the server and talking to it.

use std::collections::HashMap;
use std::sync::Once;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;
use switchboard::App;
use switchboard::config::Config;
use switchboard::users::{NewUser, Role};

pub const ADMIN_EMAIL: &str = "admin@switchboard.test";
pub const PASSWORD: &str = "correct horse battery";

static NOTICE: Once = Once::new();

/// A fresh database URL: a temp SQLite file, or a new database on TEST_DATABASE_URL.
pub async fn fresh_database(data_dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(base) => {
            sqlx::any::install_default_drivers();
            let name = switchboard::db::new_id("sbtest");
            let mut conn = sqlx::AnyConnection::connect(&base)
                .await
                .expect("connect to TEST_DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            conn.close().await.ok();
            let mut url = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        None => {
            NOTICE.call_once(|| {
                eprintln!("TEST_DATABASE_URL not set: PostgreSQL run skipped, testing on SQLite")
            });
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("switchboard.db").display()
            )
        }
    }
}

pub struct TestApp {
    pub app: App,
    pub base: String,
    pub http: reqwest::Client,
    pub data_dir: std::path::PathBuf,
}

impl TestApp {
    /// Starts the server with extra environment-style settings.
    pub async fn start_with(vars: &[(&str, &str)]) -> Self {
        twilio::client::install_tls_provider();
        let data_dir = std::env::temp_dir().join(switchboard::db::new_id("sbit"));
        std::fs::create_dir_all(&data_dir).expect("temp dir");
        let database_url = fresh_database(&data_dir).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut env: HashMap<String, String> = HashMap::from([
            ("SWITCHBOARD_BIND".into(), addr.to_string()),
            ("PUBLIC_URL".into(), format!("http://{addr}")),
            (
                "SWITCHBOARD_DATA_DIR".into(),
                data_dir.display().to_string(),
            ),
            ("DATABASE_URL".into(), database_url),
        ]);
        for (k, v) in vars {
            env.insert((*k).into(), (*v).into());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
        let app = App::start_with_listener(config, listener)
            .await
            .expect("server starts");
        let base = format!("http://{}", app.addr);
        let http = reqwest::Client::builder().build().expect("client");
        let test = Self {
            app,
            base,
            http,
            data_dir,
        };
        switchboard::users::create(
            &test.app.state.db,
            NewUser {
                email: ADMIN_EMAIL.into(),
                password: PASSWORD.into(),
                role: Role::Admin,
                tenant_id: None,
                allowed_pages: None,
                phone: None,
            },
        )
        .await
        .expect("seed admin");
        test
    }

    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(json) => {
                    // Every JSON answer the suite sees is held to the published contract.
                    crate::contract::check_response(method.as_str(), path, status, &json);
                    json
                }
                Err(_) => Value::String(text),
            }
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, PASSWORD).await
    }

    /// Creates a tenant and returns its id.
    pub async fn tenant(&self, admin: &str, name: &str) -> String {
        let (status, body) = self
            .post("/api/admin/tenants", admin, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a user and returns a logged-in token.
    pub async fn user(
        &self,
        admin: &str,
        email: &str,
        role: &str,
        tenant: &str,
        pages: &[&str],
    ) -> String {
        let (status, body) = self
            .post(
                "/api/admin/users",
                admin,
                json!({"email": email, "password": PASSWORD, "role": role, "tenantId": tenant, "allowedPages": pages}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.login(email, PASSWORD).await
    }

    /// Starts a second server on this one's database, as a second process would run
    /// (its own pool, its own job worker), with the same settings plus `vars`.
    pub async fn second_process(&self, vars: &[(&str, &str)]) -> switchboard::server::App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let database_url = self
            .app
            .state
            .config
            .database_url
            .clone()
            .expect("the first server names its database");
        let mut env: HashMap<String, String> = HashMap::from([
            ("SWITCHBOARD_BIND".into(), addr.to_string()),
            ("PUBLIC_URL".into(), self.base.clone()),
            (
                "SWITCHBOARD_DATA_DIR".into(),
                self.data_dir.display().to_string(),
            ),
            ("DATABASE_URL".into(), database_url),
        ]);
        for (k, v) in vars {
            env.insert((*k).into(), (*v).into());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
        App::start_with_listener(config, listener)
            .await
            .expect("second server starts")
    }

    pub async fn stop(self) {
        self.app.stop().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Posts a webhook form to `path`, signed with `token` as Twilio would sign it.
pub async fn signed_post(
    t: &TestApp,
    path: &str,
    token: &str,
    pairs: &[(&str, &str)],
) -> (StatusCode, String) {
    let params: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature =
        twilio::signature::RequestValidator::new(token).compute_signature(&t.url(path), &params);
    let resp = t
        .http
        .post(t.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(serde_urlencoded::to_string(&params).expect("encode"))
        .send()
        .await
        .expect("send");
    (resp.status(), resp.text().await.unwrap_or_default())
}

/// Asserts the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> String {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"));
    assert!(
        body["error"]["message"].is_string(),
        "error without message: {body}"
    );
    code.to_owned()
}
