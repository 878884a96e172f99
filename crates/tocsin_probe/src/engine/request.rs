//! A request as the engine sends it, and its HTTP/1.1 serialization.

use super::url::Url;
use super::EngineError;

#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: Url,
    /// Sent in order; `Host`, `Content-Length` and `Connection` are added when absent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Credentials stay out of debug output and logs: their values are hidden.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if crate::redact::is_sensitive_header(n) {
                    "<hidden>"
                } else {
                    v.as_str()
                };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.to_string())
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Request {
    pub fn new(method: &str, url: Url) -> Self {
        Request {
            method: method.to_ascii_uppercase(),
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Refuses what would let a plan or a flag smuggle bytes onto the wire.
    pub fn validate(&self) -> Result<(), EngineError> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        if !token(&self.method) {
            return Err(EngineError::InvalidRequest(format!(
                "invalid method `{}`",
                self.method.escape_debug()
            )));
        }
        for (name, value) in &self.headers {
            if !token(name) {
                return Err(EngineError::InvalidRequest(format!(
                    "invalid header name `{}`",
                    name.escape_debug()
                )));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(EngineError::InvalidRequest(format!(
                    "header `{name}` has a line break in its value"
                )));
            }
        }
        Ok(())
    }

    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }

    /// The bytes of the request on an HTTP/1.1 connection that carries only it.
    pub fn to_http1(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!("{} {} HTTP/1.1\r\n", self.method, self.url.target).as_bytes(),
        );
        if self.get_header("host").is_none() {
            out.extend_from_slice(
                format!("Host: {}\r\n", self.url.origin.host_header()).as_bytes(),
            );
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if self.get_header("user-agent").is_none() {
            out.extend_from_slice(b"User-Agent: tocsin-probe\r\n");
        }
        let needs_length =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if needs_length
            && self.get_header("content-length").is_none()
            && self.get_header("transfer-encoding").is_none()
        {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if self.get_header("connection").is_none() {
            // One connection per request: the server may close, and close-delimited
            // bodies end cleanly.
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let url = Url::parse("http://127.0.0.1:1/x").unwrap();
        let r = Request::new("get", url)
            .header("X-API-Key", "k-secret")
            .header("Authorization", "Bearer t-secret")
            .header("Accept", "text/plain");
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("text/plain") && shown.contains("GET"));
    }
}
