//! Twilio SIDs: two letters naming the resource kind and 32 hex digits.

/// Whether `s` is a Twilio SID: the prefix and 32 hex digits.
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `AC…1234`: enough to recognise, not enough to use.
pub fn mask_sid(s: &str) -> String {
    let head: String = s.chars().take(2).collect();
    let tail: String = s
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_and_masks() {
        let sid = format!("AC{}", "a1".repeat(16));
        assert!(is_sid(&sid, "AC"));
        assert!(!is_sid(&sid, "SK"));
        assert!(!is_sid("AC123", "AC"));
        assert_eq!(mask_sid(&sid), "AC…a1a1");
    }
}
