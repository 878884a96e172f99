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

/// The secrets of the current run, for the panic hook: a panic message may quote a
/// request, and panics print outside every report path.
static PANIC_REDACTOR: std::sync::Mutex<Option<Redactor>> = std::sync::Mutex::new(None);

/// Makes `redactor`'s secrets known to [`redact_for_panic`].
pub fn register_for_panics(redactor: &Redactor) {
    if let Ok(mut slot) = PANIC_REDACTOR.lock() {
        let merged = slot.get_or_insert_with(Redactor::new);
        for (secret, replacement) in &redactor.secrets {
            if !merged.secrets.iter().any(|(s, _)| s == secret) {
                merged.secrets.push((secret.clone(), replacement.clone()));
            }
        }
        merged
            .secrets
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }
}

/// `text` with every registered secret replaced; `None` when the registry cannot be
/// read (the panic happened while it was held), so the caller prints nothing of it.
pub fn redact_for_panic(text: &str) -> Option<String> {
    match PANIC_REDACTOR.try_lock() {
        Ok(slot) => Some(match slot.as_ref() {
            Some(r) => r.redact(text),
            None => text.to_string(),
        }),
        Err(_) => None,
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

    #[test]
    fn panic_messages_lose_registered_secrets() {
        let mut r = Redactor::new();
        r.add("carol", "panic-secret-7d1e");
        register_for_panics(&r);
        let out = redact_for_panic("index out of range for panic-secret-7d1e").unwrap();
        assert_eq!(out, "index out of range for <redacted:carol>");
    }
}
