//! Reading HTML forms: repeated keys (checkbox groups) kept, blanks distinguishable
//! from absent fields, and field errors carried back into the re-rendered page.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;

use crate::error::{AppError, FieldErrors};

/// A posted `application/x-www-form-urlencoded` body.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses a urlencoded body.
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// Every value of `name` (a checkbox group).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = super::WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::UnsupportedMediaType(
                "expected Content-Type: application/x-www-form-urlencoded",
            )
            .into());
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::PayloadTooLarge)?;
        Ok(Self::parse(&body))
    }
}

/// The request's method, URI and headers, for checks made before the body is read.
pub struct RequestHead(pub Parts);

impl<S: Send + Sync> FromRequestParts<S> for RequestHead {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (mut head, ()) = axum::http::Request::new(()).into_parts();
        head.method = parts.method.clone();
        head.uri = parts.uri.clone();
        head.headers = parts.headers.clone();
        Ok(Self(head))
    }
}

/// Field errors by form field, for templates: `errors.of("forwardNumber")`.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    fields: FieldErrors,
    /// An error about the whole form.
    pub general: Option<String>,
}

impl Errors {
    /// No errors.
    pub fn none() -> Self {
        Self::default()
    }

    /// From an application error: field errors go next to fields, anything else on top.
    pub fn from_app(e: &AppError) -> Self {
        match e {
            AppError::Validation(fields) => Self {
                fields: fields.clone(),
                general: Some("Please correct the highlighted fields.".into()),
            },
            other => Self {
                fields: FieldErrors::new(),
                general: Some(other.to_string()),
            },
        }
    }

    /// The error for `field` (or any of its sub-fields), or "", as a sentence shown
    /// under the field ("is required" → "This is required.").
    pub fn of(&self, field: &str) -> String {
        if let Some(e) = self.fields.get(field) {
            return sentence(e);
        }
        self.fields
            .iter()
            .find(|(k, _)| is_part_of(k, field))
            .map(|(k, v)| {
                let detail = k.rsplit('.').next().unwrap_or(k);
                format!("{detail}: {v}")
            })
            .unwrap_or_default()
    }

    /// Shows the error an API field has under the form field that stands for it.
    pub fn rename(&mut self, api_field: &str, form_field: &str) {
        if let Some(e) = self.fields.remove(api_field) {
            self.fields.entry(form_field.to_owned()).or_insert(e);
        }
    }

    /// Fields with errors that the form has no place for.
    pub fn others(&self, known: &[&str]) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| !known.iter().any(|f| k.as_str() == *f || is_part_of(k, f)))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect()
    }
}

/// Whether the error key `key` is about a part of `field` (`businessHours.days.mon`,
/// `phoneNumbers[0].phoneNumber`).
fn is_part_of(key: &str, field: &str) -> bool {
    key.strip_prefix(field)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// API field errors read "<field> is …"; under the field itself they become "This is …".
fn sentence(message: &str) -> String {
    let body = if message.starts_with("is ") || message.starts_with("must ") {
        format!("This {message}")
    } else {
        super::capitalise(message)
    };
    if body.ends_with('.') {
        body
    } else {
        format!("{body}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_repeated_keys_and_blanks() {
        let f = FormData::parse(b"pages=dashboard&pages=call-logs&name=+Bright+&empty=&x=%26");
        assert_eq!(f.all("pages"), vec!["dashboard", "call-logs"]);
        assert_eq!(f.text("name").as_deref(), Some("Bright"));
        assert_eq!(f.text("empty"), None);
        assert!(f.checked("empty"));
        assert!(!f.checked("missing"));
        assert_eq!(f.get("x"), Some("&"));
    }

    #[test]
    fn errors_find_sub_fields() {
        let mut fields = FieldErrors::new();
        fields.insert(
            "businessHours.days.tue[0]".into(),
            "closes before it opens".into(),
        );
        fields.insert("forwardNumber".into(), "is not a valid phone number".into());
        let e = Errors::from_app(&AppError::Validation(fields));
        assert_eq!(e.of("forwardNumber"), "This is not a valid phone number.");
        assert!(e.of("businessHours").contains("closes before it opens"));
        assert_eq!(e.of("menuMessage"), "");
        assert!(e.others(&["forwardNumber", "businessHours"]).is_empty());
        assert_eq!(e.others(&["forwardNumber"]).len(), 1);
    }
}
