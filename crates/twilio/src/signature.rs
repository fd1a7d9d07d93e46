//! `X-Twilio-Signature`: computing and checking webhook signatures.
//!
//! Twilio signs every webhook with HMAC-SHA1 keyed by the account's auth token over
//! the full URL it requested, followed by every POST parameter name and value with
//! the names in byte order (a repeated name contributes each of its distinct values,
//! sorted). The digest is sent base64-encoded. For JSON bodies Twilio instead puts
//! the hex SHA-256 of the body in the URL's `bodySHA256` query parameter and signs
//! the URL alone.
//!
//! Like Twilio's own helper libraries, [`RequestValidator::validate`] accepts the URL
//! both with the scheme's default port and without any port, because proxies and
//! Twilio disagree about whether `:443` is part of the URL.
//!
//! ```
//! use twilio::signature::RequestValidator;
//!
//! let validator = RequestValidator::new("12345");
//! let params = [
//!     ("CallSid", "CA1234567890ABCDE"),
//!     ("Caller", "+12349013030"),
//!     ("Digits", "1234"),
//!     ("From", "+12349013030"),
//!     ("To", "+18005551212"),
//! ];
//! let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
//! let signature = validator.compute_signature(url, &params);
//! assert_eq!(signature, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
//! assert!(validator.validate(url, &params, &signature));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

/// The HTTP header that carries Twilio's signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Computes and checks Twilio webhook signatures for one auth token.
#[derive(Clone)]
pub struct RequestValidator {
    auth_token: Vec<u8>,
}

impl std::fmt::Debug for RequestValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestValidator")
            .field("auth_token", &"[redacted]")
            .finish()
    }
}

impl RequestValidator {
    /// A validator keyed with an account's auth token.
    pub fn new(auth_token: impl AsRef<[u8]>) -> Self {
        Self {
            auth_token: auth_token.as_ref().to_vec(),
        }
    }

    fn mac(&self) -> HmacSha1 {
        // HMAC accepts keys of any length, so this cannot fail.
        match HmacSha1::new_from_slice(&self.auth_token) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    fn mac_over<K: AsRef<str>, V: AsRef<str>>(&self, url: &str, params: &[(K, V)]) -> HmacSha1 {
        let mut mac = self.mac();
        mac.update(url.as_bytes());
        for (key, value) in canonical_params(params) {
            mac.update(key.as_bytes());
            mac.update(value.as_bytes());
        }
        mac
    }

    /// The base64 signature Twilio would send for a request to `url` with these
    /// form parameters (pass none for GET requests and JSON bodies).
    pub fn compute_signature<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
    ) -> String {
        BASE64.encode(self.mac_over(url, params).finalize().into_bytes())
    }

    /// Checks a form-encoded (or GET) request. `url` is the full public URL Twilio
    /// requested, query string included. The comparison is constant-time.
    pub fn validate<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
        signature: &str,
    ) -> bool {
        let Ok(expected) = BASE64.decode(signature.trim()) else {
            return false;
        };
        url_variants(url).iter().any(|candidate| {
            self.mac_over(candidate, params)
                .verify_slice(&expected)
                .is_ok()
        })
    }

    /// Checks a request with a JSON (or other non-form) body: the URL's `bodySHA256`
    /// query parameter must be the hex SHA-256 of `body`, and the signature covers
    /// the URL alone.
    pub fn validate_body(&self, url: &str, body: &[u8], signature: &str) -> bool {
        let Some(claimed) = query_param(url, "bodySHA256") else {
            return false;
        };
        let actual = body_sha256_hex(body);
        let hash_matches =
            constant_time_eq(claimed.to_ascii_lowercase().as_bytes(), actual.as_bytes());
        let no_params: [(&str, &str); 0] = [];
        // Evaluate both so that timing does not reveal which part failed.
        let signature_matches = self.validate(url, &no_params, signature);
        hash_matches & signature_matches
    }
}

/// The hex SHA-256 of a request body, as Twilio puts it in `bodySHA256`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Parameters in signing order: names in byte order, and for each name its distinct
/// values in byte order.
fn canonical_params<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Vec<(&str, &str)> {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The spellings of `url` that Twilio's libraries accept: as given, with the
/// scheme's default port made explicit, and with the port removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Ok(parsed) = url::Url::parse(url) else {
        return variants;
    };
    let Some((authority_start, authority_end)) = authority_span(url) else {
        return variants;
    };
    let authority = &url[authority_start..authority_end];
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let host = strip_port(hostport);
    let with = |hp: &str| {
        format!(
            "{}{}{}{}",
            &url[..authority_start],
            userinfo,
            hp,
            &url[authority_end..]
        )
    };
    if host.len() != hostport.len() {
        // A port was written: also try without it.
        variants.push(with(host));
    } else if let Some(port) = parsed.port_or_known_default() {
        variants.push(with(&format!("{host}:{port}")));
    }
    variants
}

/// Byte range of the authority (`user@host:port`) in an absolute URL, taken from the
/// original text so that everything else is signed exactly as written.
fn authority_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    Some((start, end))
}

fn strip_port(hostport: &str) -> &str {
    if hostport.starts_with('[') {
        // IPv6 literal: the port, if any, follows the closing bracket.
        return match hostport.find(']') {
            Some(close) => &hostport[..=close],
            None => hostport,
        };
    }
    match hostport.rfind(':') {
        Some(colon) if hostport[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &hostport[..colon]
        }
        _ => hostport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const TOKEN: &str = "12345";
    const EXPECTED: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn documented_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn documented_example() {
        let v = RequestValidator::new(TOKEN);
        assert_eq!(v.compute_signature(URL, &documented_params()), EXPECTED);
        assert!(v.validate(URL, &documented_params(), EXPECTED));
    }

    #[test]
    fn wrong_token_or_garbage_signature_is_refused() {
        let other = RequestValidator::new("54321");
        assert!(!other.validate(URL, &documented_params(), EXPECTED));
        let v = RequestValidator::new(TOKEN);
        assert!(!v.validate(URL, &documented_params(), "not base64!!"));
        assert!(!v.validate(URL, &documented_params(), ""));
    }

    #[test]
    fn default_port_variants_are_accepted() {
        let v = RequestValidator::new(TOKEN);
        // Twilio signed the URL without a port; the proxy shows us :443.
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(v.validate(with_port, &documented_params(), EXPECTED));
        // Twilio signed with the port; we know the URL without it.
        let signed_with_port = v.compute_signature(with_port, &documented_params());
        assert!(v.validate(URL, &documented_params(), &signed_with_port));
        // http and port 80.
        let http = "http://example.com/hook";
        let sig = v.compute_signature("http://example.com:80/hook", &documented_params());
        assert!(v.validate(http, &documented_params(), &sig));
        // A different host is never accepted.
        assert!(!v.validate(
            "https://evil.com/myapp.php?foo=1&bar=2",
            &documented_params(),
            EXPECTED
        ));
    }

    #[test]
    fn url_variants_keep_userinfo_path_and_query() {
        let vs = url_variants("https://user:pw@example.com:8443/a/b?x=1#f");
        assert_eq!(vs[1], "https://user:pw@example.com/a/b?x=1#f");
        let vs = url_variants("http://[::1]/hook");
        assert_eq!(vs[1], "http://[::1]:80/hook");
    }

    #[test]
    fn repeated_keys_sign_each_distinct_value_sorted() {
        let v = RequestValidator::new(TOKEN);
        let params = [
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "ringing"),
        ];
        let mut mac = v.mac();
        mac.update(b"https://example.com/cb");
        mac.update(b"StatusCallbackEventansweredStatusCallbackEventringing");
        let expected = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(
            v.compute_signature("https://example.com/cb", &params),
            expected
        );
    }

    #[test]
    fn json_body_uses_body_sha256() {
        let v = RequestValidator::new(TOKEN);
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = body_sha256_hex(body);
        assert_eq!(
            hash,
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={hash}");
        let none: [(&str, &str); 0] = [];
        let sig = v.compute_signature(&url, &none);
        assert!(v.validate_body(&url, body, &sig));
        assert!(!v.validate_body(&url, b"{\"property\": \"other\"}", &sig));
        assert!(!v.validate_body("https://mycompany.com/myapp.php", body, &sig));
    }

    fn param_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[A-Za-z]{1,8}", "[ -~]{0,12}"), 0..12)
    }

    proptest! {
        #[test]
        fn any_reordering_gives_the_same_signature(params in param_strategy(), seed in any::<u64>()) {
            let v = RequestValidator::new(TOKEN);
            let sig = v.compute_signature(URL, &params);
            let mut shuffled = params.clone();
            // Deterministic shuffle from the seed.
            let n = shuffled.len();
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = (s >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            prop_assert_eq!(v.compute_signature(URL, &shuffled), sig.clone());
            prop_assert!(v.validate(URL, &shuffled, &sig));
        }

        #[test]
        fn any_changed_byte_is_refused(
            params in param_strategy(),
            which in any::<prop::sample::Index>(),
            replacement in 0x21u8..0x7f,
        ) {
            let v = RequestValidator::new(TOKEN);
            let sig = v.compute_signature(URL, &params);
            // Change one byte of the path or of one parameter value. Changing the
            // host or port could legitimately hit a port variant, so it is left alone.
            let path_start = URL.find("/myapp").unwrap_or(0);
            let mut url = URL.as_bytes().to_vec();
            let original = params.clone();
            let mut params = params;
            let value_bytes: usize = params.iter().map(|(_, val)| val.len()).sum();
            let mut at = which.index(url.len() - path_start + value_bytes);
            if at < url.len() - path_start {
                prop_assume!(url[path_start + at] != replacement);
                url[path_start + at] = replacement;
            } else {
                at -= url.len() - path_start;
                for (_, val) in params.iter_mut() {
                    if at < val.len() {
                        let mut bytes = val.as_bytes().to_vec();
                        prop_assume!(bytes[at] != replacement);
                        bytes[at] = replacement;
                        *val = String::from_utf8(bytes).unwrap_or_default();
                        break;
                    }
                    at -= val.len();
                }
            }
            let url = String::from_utf8(url).unwrap_or_default();
            // Twilio's scheme concatenates without separators, so a change that yields
            // the same signed string is not a change at all.
            prop_assume!(signed_string(&url, &params) != signed_string(URL, &original));
            prop_assert!(!v.validate(&url, &params, &sig));
        }
    }

    fn signed_string(url: &str, params: &[(String, String)]) -> String {
        let mut out = url.to_owned();
        for (k, v) in canonical_params(params) {
            out.push_str(k);
            out.push_str(v);
        }
        out
    }
}
