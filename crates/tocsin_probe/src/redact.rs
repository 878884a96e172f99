//! Redaction: every secret value an identity carries is replaced by `<redacted:NAME>` in
//! everything that leaves this crate (URLs, headers, echoed bodies, errors, reports).

/// Knows the secrets of a run and scrubs them from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (secret, replacement), longest secret first so a key that contains another is
    /// replaced whole.
    secrets: Vec<(String, String)>,
}

impl Redactor {
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Registers a secret owned by `name`. Its percent-encoded form is registered too,
    /// since keys also travel in query strings.
    pub fn add(&mut self, name: &str, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let replacement = format!("<redacted:{name}>");
        let mut forms = vec![secret.to_string(), percent_encode(secret)];
        if let Some(token) = secret
            .strip_prefix("Bearer ")
            .or_else(|| secret.strip_prefix("bearer "))
        {
            forms.push(token.to_string());
        }
        for form in forms {
            if !form.is_empty() && !self.secrets.iter().any(|(s, _)| *s == form) {
                self.secrets.push((form, replacement.clone()));
            }
        }
        self.secrets
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (secret, replacement) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), replacement);
            }
        }
        out
    }

    /// Redacts bytes that are echoed (response bodies) and returns text.
    pub fn redact_bytes(&self, bytes: &[u8]) -> String {
        self.redact(&String::from_utf8_lossy(bytes))
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Header names whose values are credentials even when no identity declared them
/// (hand-written `-H` on `tocsin race`).
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || lower.contains("key")
        || lower.contains("token")
        || lower.contains("secret")
        || lower.contains("auth")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_form() {
        let mut r = Redactor::new();
        r.add("alice", "Bearer tok/en+1");
        r.add("bob", "k");
        let text = "Authorization: Bearer tok/en+1 ?t=tok%2Fen%2B1 raw tok/en+1 k";
        let out = r.redact(text);
        assert!(!out.contains("tok/en+1") && !out.contains("tok%2Fen"));
        assert!(out.contains("<redacted:alice>"));
        assert!(out.ends_with("<redacted:bob>"));
    }
}
