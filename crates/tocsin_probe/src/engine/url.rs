//! Origins and absolute URLs, parsed strictly: the engine only needs scheme, host, port
//! and the request target, and a small parser keeps what we connect to obvious.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// scheme + host + port: the unit of scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub scheme: Scheme,
    /// Lower-cased; IPv6 literals keep their brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// `host:port` as used for connecting (brackets kept for IPv6).
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Host` header value: the port is omitted when it is the scheme's default.
    pub fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.clone()
        } else {
            self.authority()
        }
    }

    pub fn parse(text: &str) -> Result<Origin, UrlError> {
        let url = Url::parse(text)?;
        if url.target != "/" {
            return Err(UrlError::Invalid {
                input: text.to_string(),
                reason: "an origin has no path",
            });
        }
        Ok(url.origin)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host_header())
    }
}

/// An absolute http(s) URL: origin plus request target (path and query, never empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    pub origin: Origin,
    /// Starts with `/`. The fragment is dropped: it never goes on the wire.
    pub target: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("invalid URL `{input}`: {reason}")]
    Invalid { input: String, reason: &'static str },
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let invalid = |reason| UrlError::Invalid {
            input: text.to_string(),
            reason,
        };
        let text_trim = text.trim();
        let (scheme, rest) = if let Some(rest) = strip_prefix_ci(text_trim, "http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = strip_prefix_ci(text_trim, "https://") {
            (Scheme::Https, rest)
        } else {
            return Err(invalid("only http:// and https:// URLs are supported"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            // Credentials in URLs would leak into logs and Host headers.
            return Err(invalid("userinfo in URLs is not supported; use --identity"));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| invalid("unclosed IPv6 literal"))?;
            let host = format!("[{}]", &after[..close]);
            let rest = &after[close + 1..];
            let port = match rest.strip_prefix(':') {
                Some(p) => Some(p),
                None if rest.is_empty() => None,
                None => return Err(invalid("garbage after IPv6 literal")),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(invalid("invalid character in host"));
        }
        let port = match port {
            None => scheme.default_port(),
            Some(p) => p.parse::<u16>().map_err(|_| invalid("invalid port"))?,
        };
        let tail = tail.split('#').next().unwrap_or("");
        let target = if tail.is_empty() {
            "/".to_string()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_string()
        };
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(invalid("whitespace or control character in path"));
        }
        Ok(Url {
            origin: Origin {
                scheme,
                host: host.to_ascii_lowercase(),
                port,
            },
            target,
        })
    }

    /// Resolves a `Location` header or a plan path against this URL.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let reference = reference.trim();
        if strip_prefix_ci(reference, "http://").is_some()
            || strip_prefix_ci(reference, "https://").is_some()
        {
            return Url::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.origin.scheme.as_str()));
        }
        if reference.contains("://") {
            return Err(UrlError::Invalid {
                input: reference.to_string(),
                reason: "unsupported scheme",
            });
        }
        let target = if reference.starts_with('/') {
            reference.to_string()
        } else if reference.starts_with('?') {
            let path = self.target.split('?').next().unwrap_or("/");
            format!("{path}{reference}")
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let dir = match path.rfind('/') {
                Some(i) => &path[..=i],
                None => "/",
            };
            format!("{dir}{reference}")
        };
        Url::parse(&format!("{}{target}", self.origin))
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin, self.target)
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    if text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&text[prefix.len()..])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins() {
        let url = Url::parse("http://127.0.0.1:5000/a/b?x=1#frag").unwrap();
        assert_eq!(url.origin.port, 5000);
        assert_eq!(url.target, "/a/b?x=1");
        assert_eq!(url.join("c").unwrap().target, "/a/c");
        assert_eq!(
            url.join("/login").unwrap().to_string(),
            "http://127.0.0.1:5000/login"
        );
        assert_eq!(
            url.join("//evil.example/x").unwrap().origin.host,
            "evil.example"
        );
        assert_eq!(
            Url::parse("HTTP://LocalHost").unwrap().to_string(),
            "http://localhost/"
        );
        assert_eq!(
            Url::parse("http://[::1]:8080/").unwrap().origin.authority(),
            "[::1]:8080"
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "ftp://x",
            "http://",
            "http://a:99999/",
            "http://u:p@host/",
            "http://h/a b",
            "http://[::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
