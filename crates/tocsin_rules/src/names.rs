//! What names and literals say about secrets: shared by the key and token rules.

/// Splits `apiKey`, `API_KEY`, `x-api-key` into lower-case words.
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for ch in name.chars() {
        if ch == '_' || ch == '-' || ch == '.' || ch == ' ' {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if ch.is_uppercase() && previous_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = ch.is_lowercase() || ch.is_ascii_digit();
        current.extend(ch.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Words that, last in a name, say it holds something about a secret rather than
/// the secret itself (`TOKEN_TYPE`, `API_KEY_HEADER`, `token_expiry`).
const NOT_THE_SECRET: &[&str] = &[
    "type",
    "kind",
    "name",
    "names",
    "id",
    "ids",
    "count",
    "len",
    "length",
    "url",
    "uri",
    "prefix",
    "scheme",
    "header",
    "headers",
    "expiry",
    "expires",
    "exp",
    "ttl",
    "lifetime",
    "format",
    "field",
    "param",
    "endpoint",
    "hint",
    "label",
    "path",
    "file",
    "env",
    "var",
    "location",
    "algorithm",
    "algorithms",
    "alg",
    "algo",
    "description",
    "error",
    "arn",
    "version",
    "required",
    "enabled",
    "size",
    "index",
    "pattern",
    "regex",
    "column",
    "attr",
    "table",
    "model",
    "class",
    "timeout",
    "age",
    "issuer",
    "audience",
    "location",
    "mode",
    "policy",
    "rotation",
    "set",
    "source",
    "start",
    "end",
    "list",
    "map",
    "parser",
    "kwargs",
    "args",
    "template",
    "form",
    "view",
    "url",
    "message",
];

/// Qualifiers that make a bare `key` a credential: `api_key`, `access_key`, `x-api-key`.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "auth",
    "secret",
    "private",
    "signing",
    "client",
    "app",
    "admin",
    "master",
    "x",
    "provided",
    "expected",
    "given",
    "valid",
    "stored",
    "user",
    "service",
    "hmac",
    "shared",
    "webhook",
    "encryption",
    "license",
];

fn might_be_secret(name: &str) -> bool {
    const STEMS: &[&[u8]] = &[
        b"key", b"token", b"secret", b"sig", b"hmac", b"jwt", b"pass", b"cred", b"bearer",
    ];
    let bytes = name.as_bytes();
    STEMS.iter().any(|stem| {
        bytes.windows(stem.len()).any(|w| {
            w.iter()
                .zip(stem.iter())
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
        })
    })
}

/// Does a variable, attribute, header, parameter or config name denote a key,
/// token, signature or signing secret?
///
/// A bare `key` does not, unless `bare_key` is set (query parameters named `key`
/// are API keys by convention; a variable named `key` is usually a dict key).
pub fn is_secret_name(name: &str, bare_key: bool) -> bool {
    // Fast reject before splitting into words: this runs on every name.
    if !might_be_secret(name) {
        return false;
    }
    let words = words(name);
    let Some(last) = words.last() else {
        return false;
    };
    if NOT_THE_SECRET.contains(&last.as_str()) {
        return false;
    }
    if words.iter().any(|w| {
        matches!(
            w.as_str(),
            "token"
                | "secret"
                | "secrets"
                | "signature"
                | "sig"
                | "hmac"
                | "apikey"
                | "apikeys"
                | "jwt"
                | "password"
                | "passwd"
                | "bearer"
                | "credential"
                | "credentials"
        )
    }) {
        return !words.iter().any(|w| {
            matches!(
                w.as_str(),
                "csrf" | "max" | "num" | "next" | "page" | "pagination" | "cursor"
            )
        });
    }
    for (i, word) in words.iter().enumerate() {
        if word == "key" || word == "keys" {
            if i > 0 && KEY_QUALIFIERS.contains(&words[i - 1].as_str()) {
                return true;
            }
            if words.len() == 1 && bare_key {
                return true;
            }
        }
    }
    false
}

/// Is this literal plausibly a real key rather than a word or a sentinel? Keys are
/// long and random: letters mixed with digits, or long and not made of plain words.
pub fn looks_like_key_literal(value: &str) -> bool {
    if value.len() < 8 || value.chars().any(char::is_whitespace) {
        return false;
    }
    let has_digit = value.chars().any(|c| c.is_ascii_digit());
    let has_letter = value.chars().any(|c| c.is_ascii_alphabetic());
    if !has_letter && !has_digit {
        return false;
    }
    (has_digit && has_letter) || (value.len() >= 20 && !is_identifier_like(value))
}

/// `default_related_name`, `set-password`, `COLLATE`: words, not secrets.
pub fn is_identifier_like(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.')
}

/// How strongly a name says "secret". Weak names (`token`, `signature`) are also used
/// for lexer tokens and type signatures, so they need corroborating evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Secrecy {
    None,
    Weak,
    Strong,
}

pub fn secrecy(name: &str, bare_key: bool) -> Secrecy {
    if !is_secret_name(name, bare_key) {
        return Secrecy::None;
    }
    let words = words(name);
    let weak = words.iter().all(|w| {
        !matches!(
            w.as_str(),
            "secret"
                | "secrets"
                | "apikey"
                | "apikeys"
                | "hmac"
                | "password"
                | "passwd"
                | "jwt"
                | "bearer"
                | "key"
                | "keys"
                | "credential"
                | "credentials"
        )
    });
    if weak {
        Secrecy::Weak
    } else {
        Secrecy::Strong
    }
}

/// Is the name about a password (a different flaw from key comparison)?
pub fn is_password_name(name: &str) -> bool {
    words(name)
        .iter()
        .any(|w| matches!(w.as_str(), "password" | "passwd" | "pwd"))
}

/// Names of containers of keys: `API_KEYS`, `key_permissions`, `VALID_TOKENS`.
pub fn is_key_container_name(name: &str) -> bool {
    let words = words(name);
    if words.first().is_some_and(|w| w == "key" || w == "keys") {
        return true;
    }
    if words
        .iter()
        .any(|w| matches!(w.as_str(), "tokens" | "secrets" | "apikeys" | "credentials"))
    {
        return true;
    }
    let singular: String = name.trim_end_matches(['s', 'S']).to_string();
    is_secret_name(&singular, false) && !is_password_name(name)
}

/// Template references rather than literal secrets: `${API_KEY}`, `<your-key>`, `%(key)s`.
pub fn is_reference_literal(value: &str) -> bool {
    let v = value.trim();
    // Masks and ellipses: "...", "********", "xxxxxxxx".
    if v.chars()
        .all(|c| matches!(c, '.' | '*' | 'x' | 'X' | '#' | '-' | '_'))
    {
        return true;
    }
    v.is_empty()
        || (v.starts_with("${") && v.ends_with('}'))
        || (v.starts_with('<') && v.ends_with('>'))
        || v.contains("%(")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        for secret in [
            "api_key",
            "API_KEY",
            "apiKey",
            "X-API-Key",
            "token",
            "access_token",
            "SECRET_KEY",
            "jwt_secret",
            "signature",
            "provided_key",
        ] {
            assert!(is_secret_name(secret, false), "{secret}");
        }
        for not_secret in [
            "token_type",
            "API_KEY_HEADER",
            "key",
            "sort_key",
            "cache_key",
            "max_tokens",
            "next_page_token",
            "user_id",
            "token_expiry",
        ] {
            assert!(!is_secret_name(not_secret, false), "{not_secret}");
        }
        assert!(is_secret_name("key", true));
    }

    #[test]
    fn key_literals() {
        assert!(looks_like_key_literal("s3cr3tk3y_user1"));
        assert!(!looks_like_key_literal("username"));
        assert!(!looks_like_key_literal("default_related_name"));
        assert!(looks_like_key_literal("pk_live_fastfreight_Zt81QmV0c2Lx"));
        assert!(!looks_like_key_literal("a b c d e f g h"));
    }
}
