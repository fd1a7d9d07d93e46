//! The OpenAPI contract, checked from outside: the spec is well formed and names every
//! JSON route the server mounts; and every JSON answer the suite receives through
//! `TestApp::call` is checked against the schema the spec gives for its route, method
//! and status (see `check_response`).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::TestApp;

/// The spec, as the server serves it (read once per test process from the library,
/// which is what `/api/openapi.json` serves; a test below checks they are the same).
pub static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(switchboard::http::openapi::spec()).expect("the spec is JSON")
});

/// Resolves `#/components/schemas/X`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unsupported $ref {r}"));
                schema = &spec["components"]["schemas"][name];
                assert!(!schema.is_null(), "dangling $ref {r}");
            }
            None => return schema,
        }
    }
    panic!("a $ref cycle");
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// Checks `value` against `schema` (the JSON Schema subset utoipa writes: type, enum,
/// properties / required / additionalProperties, items, allOf / oneOf / anyOf, $ref).
/// Returns where and why it does not match.
pub fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if schema.get("allOf").is_some() {
        // A flattened struct: one object with every member's fields.
        return validate(spec, &merged(spec, schema), value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array) {
            let errors: Vec<String> = any
                .iter()
                .filter_map(|s| validate(spec, s, value, at).err())
                .collect();
            if errors.len() == any.len() {
                return Err(format!(
                    "{at}: matches none of {key}: {}",
                    errors.join(" | ")
                ));
            }
        }
    }
    match schema.get("type") {
        Some(Value::String(kind)) if !type_matches(kind, value) => {
            return Err(format!("{at}: expected {kind}, got {value}"));
        }
        Some(Value::Array(kinds))
            if !kinds
                .iter()
                .filter_map(Value::as_str)
                .any(|k| type_matches(k, value)) =>
        {
            return Err(format!("{at}: expected one of {kinds:?}, got {value}"));
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    return Err(format!("{at}: required field {name} is missing"));
                }
            }
        }
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(s) => validate(spec, s, field, &format!("{at}.{name}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: field {name} is not in the schema"));
                    }
                    Some(extra @ Value::Object(_)) => {
                        validate(spec, extra, field, &format!("{at}.{name}"))?;
                    }
                    // A typed object answered a field its schema does not list: the
                    // spec is missing it.
                    _ if properties.is_some() => {
                        return Err(format!("{at}: field {name} is not in the schema"));
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            validate(spec, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// An `allOf` of objects as one object schema (properties and required of all).
fn merged(spec: &Value, schema: &Value) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    let mut stack = vec![schema];
    while let Some(s) = stack.pop() {
        let s = resolve(spec, s);
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            stack.extend(all.iter());
        }
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            properties.extend(p.clone());
        }
        if let Some(r) = s.get("required").and_then(Value::as_array) {
            required.extend(r.iter().cloned());
        }
    }
    serde_json::json!({"type": "object", "properties": properties, "required": required})
}

/// The spec's path template for a concrete request path (`/api/contacts/con_1` →
/// `/api/contacts/{id}`); literal segments win over parameters.
pub fn template_for(spec: &Value, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, String)> = None;
    for template in spec["paths"].as_object()?.keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&segments).all(|(p, s)| {
            if p.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                p == s
            }
        });
        if fits && best.as_ref().is_none_or(|(n, _)| literal > *n) {
            best = Some((literal, template.clone()));
        }
    }
    best.map(|(_, t)| t)
}

/// Checks an answer the suite received against the spec. Answers of routes the spec
/// does not describe (the portal) are not checked; a 2xx the spec does not document
/// for that route fails, as does a body that does not match a documented schema.
pub fn check_response(method: &str, path: &str, status: StatusCode, body: &Value) {
    let spec = &*SPEC;
    let Some(template) = template_for(spec, path) else {
        return;
    };
    let Some(operation) = spec["paths"][&template].get(method.to_ascii_lowercase()) else {
        return;
    };
    let response = &operation["responses"][status.as_str()];
    if response.is_null() {
        assert!(
            !status.is_success(),
            "{method} {path} answered {status}, which the spec does not document for {template}"
        );
        return;
    }
    let Some(schema) = response["content"]["application/json"].get("schema") else {
        return;
    };
    if let Err(e) = validate(spec, schema, body, "body") {
        panic!("{method} {path} ({status}) does not match the spec of {template}: {e}\n{body}");
    }
}

fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.insert(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_spec_is_openapi_3_1_and_describes_every_json_route_mounted() {
    let t = TestApp::start().await;
    let resp = t
        .http
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .expect("spec");
    assert_eq!(resp.status(), StatusCode::OK);
    let served: Value = resp.json().await.expect("JSON");
    assert_eq!(served, *SPEC, "the server serves the library's spec");
    let spec = &*SPEC;
    assert!(
        spec["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string());
    for scheme in ["bearer", "session", "twilio_signature"] {
        assert!(
            spec["components"]["securitySchemes"][scheme].is_object(),
            "no {scheme} scheme"
        );
    }
    // Every reference resolves; every operation answers something, has a unique id,
    // names its path parameters, and says how errors look.
    let mut all_refs = BTreeSet::new();
    refs(spec, &mut all_refs);
    for r in &all_refs {
        let name = r.strip_prefix("#/components/schemas/").expect("local ref");
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "dangling {r}"
        );
    }
    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} answers nothing");
            for name in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            {
                assert!(
                    op["parameters"].as_array().is_some_and(|ps| ps
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path")),
                    "{method} {path} does not describe its {name} parameter"
                );
            }
            if path.starts_with("/api/") && path != "/api/openapi.json" && path != "/api/auth/login"
            {
                assert!(
                    responses.contains_key("401") || responses.contains_key("403"),
                    "{method} {path} does not say how it refuses"
                );
            }
        }
    }

    // The router and the spec name the same JSON routes.
    let mounted: BTreeSet<String> = switchboard::server::routes(t.app.state.clone())
        .paths()
        .iter()
        .filter(|p| p.starts_with("/api/") || matches!(**p, "/healthz" | "/readyz"))
        // The catch-all answers 404 JSON; the reference page is HTML.
        .filter(|p| **p != "/api/{*rest}" && !p.starts_with("/api/docs"))
        .map(|p| (*p).to_owned())
        .collect();
    let described: BTreeSet<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let undescribed: Vec<&String> = mounted.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "mounted but not in the spec: {undescribed:?}"
    );
    let unmounted: Vec<&String> = described.difference(&mounted).collect();
    assert!(
        unmounted.is_empty(),
        "in the spec but not mounted: {unmounted:?}"
    );

    // Every method the spec gives a path is routed (not 405).
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("item").keys() {
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .expect("method");
            let status = t
                .http
                .request(m, t.url(&concrete))
                .send()
                .await
                .expect("send")
                .status();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is in the spec but not routed"
            );
        }
    }

    // The reference page, from files inside the binary.
    let page = t.http.get(t.url("/api/docs/")).send().await.expect("docs");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap_or_default().contains("swagger-ui"));
    let init = t
        .http
        .get(t.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("initializer")
        .text()
        .await
        .unwrap_or_default();
    assert!(init.contains("/api/openapi.json"), "{init}");
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(t.url("/api/docs"))
        .send()
        .await
        .expect("docs root");
    assert_eq!(redirect.headers()["location"], "/api/docs/");
    t.stop().await;
}

#[test]
fn the_validator_catches_what_does_not_match() {
    let spec = &*SPEC;
    let user = serde_json::json!({"$ref": "#/components/schemas/User"});
    let good = serde_json::json!({"id": "usr_1", "email": "a@b.test", "role": "admin",
        "tenantId": null, "allowedPages": [], "phone": null, "createdAt": "2026-12-01T00:00:00Z"});
    validate(spec, &user, &good, "body").expect("a user is a user");
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("email");
    assert!(validate(spec, &user, &missing, "body").is_err());
    let mut wrong = good.clone();
    wrong["role"] = serde_json::json!("emperor");
    assert!(validate(spec, &user, &wrong, "body").is_err());
    let mut extra = good;
    extra["password"] = serde_json::json!("oops");
    assert!(
        validate(spec, &user, &extra, "body").is_err(),
        "an undocumented field fails"
    );
    assert_eq!(
        template_for(spec, "/api/contacts/con_1").as_deref(),
        Some("/api/contacts/{id}")
    );
    assert_eq!(
        template_for(spec, "/api/twilio/call-logs/stats").as_deref(),
        Some("/api/twilio/call-logs/stats"),
        "a literal segment wins over a parameter"
    );
}
