//! HTTP/1.1 on the wire: request serialization and an incremental response parser.
//!
//! The parser is fed whatever the socket returned and never trusts the peer: every line,
//! the header block, the header count and the body are capped, and malformed input is a
//! clear error instead of a panic or a wait for bytes that will never come.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Limits applied while parsing one response.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_head_bytes: usize,
    pub max_header_count: usize,
    /// Bytes of body read at most; beyond it the response is marked truncated.
    pub max_body_bytes: usize,
    /// Bytes of body kept in memory for judging and reports (the hash covers all read).
    pub max_body_kept: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_head_bytes: 64 * 1024,
            max_header_count: 128,
            max_body_bytes: 4 * 1024 * 1024,
            max_body_kept: 256 * 1024,
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("malformed status line: {0}")]
    StatusLine(String),
    #[error("malformed header line: {0}")]
    HeaderLine(String),
    #[error("response head exceeds {0} bytes")]
    HeadTooLarge(usize),
    #[error("response has more than {0} headers")]
    TooManyHeaders(usize),
    #[error("invalid Content-Length: {0}")]
    ContentLength(String),
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
    #[error("connection closed before the response was complete ({0})")]
    Incomplete(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A complete (or truncated at the cap) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// The first `max_body_kept` bytes of the decoded body.
    pub body: Vec<u8>,
    /// Decoded body bytes read (up to the cap).
    pub body_len: u64,
    /// Hex sha256 of every decoded body byte read.
    pub body_sha256: String,
    /// The body exceeded `max_body_bytes` and reading stopped there.
    pub truncated: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunk),
    Close,
    Done,
}

/// Feed it bytes with [`ResponseParser::feed`] until it reports completion, or call
/// [`ResponseParser::eof`] when the peer closed.
pub struct ResponseParser {
    limits: ParseLimits,
    /// The request was HEAD: no body whatever the headers say.
    head_request: bool,
    buf: Vec<u8>,
    state: State,
    head: Option<ResponseHead>,
    body: Vec<u8>,
    body_len: u64,
    hasher: Sha256,
    truncated: bool,
}

const MAX_CHUNK_LINE: usize = 4096;

impl ResponseParser {
    pub fn new(limits: ParseLimits, head_request: bool) -> Self {
        ResponseParser {
            limits,
            head_request,
            buf: Vec::new(),
            state: State::Head,
            head: None,
            body: Vec::new(),
            body_len: 0,
            hasher: Sha256::new(),
            truncated: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes `data`; returns true once the response is complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<bool, ParseError> {
        self.buf.extend_from_slice(data);
        loop {
            let progressed = match self.state {
                State::Done => return Ok(true),
                State::Head => self.parse_head()?,
                State::Length(remaining) => {
                    let take = remaining.min(self.buf.len() as u64) as usize;
                    if take > 0 {
                        let bytes: Vec<u8> = self.buf.drain(..take).collect();
                        self.push_body(&bytes);
                        self.state = State::Length(remaining - take as u64);
                    }
                    if let State::Length(0) = self.state {
                        self.state = State::Done;
                        true
                    } else {
                        false
                    }
                }
                State::Close => {
                    let bytes = std::mem::take(&mut self.buf);
                    self.push_body(&bytes);
                    false
                }
                State::Chunked(chunk) => self.parse_chunked(chunk)?,
            };
            if self.truncated {
                self.state = State::Done;
            }
            if !progressed {
                return Ok(self.state == State::Done);
            }
        }
    }

    /// The peer closed the connection.
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            State::Head if self.buf.is_empty() => Err(ParseError::Incomplete("no response")),
            State::Head => Err(ParseError::Incomplete("in the response head")),
            State::Length(_) => Err(ParseError::Incomplete("body shorter than Content-Length")),
            State::Chunked(_) => Err(ParseError::Incomplete("in a chunked body")),
        }
    }

    /// The response head, as soon as it has been parsed (to note the first byte early).
    pub fn head(&self) -> Option<&ResponseHead> {
        self.head.as_ref()
    }

    pub fn finish(self) -> Result<Response, ParseError> {
        if self.state != State::Done {
            return Err(ParseError::Incomplete("response not finished"));
        }
        let head = self
            .head
            .ok_or(ParseError::Incomplete("no response head"))?;
        Ok(Response {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body: self.body,
            body_len: self.body_len,
            body_sha256: hex(&self.hasher.finalize()),
            truncated: self.truncated,
        })
    }

    fn push_body(&mut self, bytes: &[u8]) {
        let room = (self.limits.max_body_bytes as u64).saturating_sub(self.body_len);
        let take = (bytes.len() as u64).min(room) as usize;
        if take < bytes.len() {
            self.truncated = true;
        }
        let bytes = &bytes[..take];
        self.hasher.update(bytes);
        self.body_len += take as u64;
        let keep = self.limits.max_body_kept.saturating_sub(self.body.len());
        self.body.extend_from_slice(&bytes[..keep.min(bytes.len())]);
    }

    fn parse_head(&mut self) -> Result<bool, ParseError> {
        // Tolerate bare LF line endings (some servers send them), but nothing looser.
        let end = find_head_end(&self.buf);
        let Some((head_len, body_start)) = end else {
            if self.buf.len() > self.limits.max_head_bytes {
                return Err(ParseError::HeadTooLarge(self.limits.max_head_bytes));
            }
            return Ok(false);
        };
        if head_len > self.limits.max_head_bytes {
            return Err(ParseError::HeadTooLarge(self.limits.max_head_bytes));
        }
        let head_bytes: Vec<u8> = self.buf[..head_len].to_vec();
        self.buf.drain(..body_start);
        let text = String::from_utf8_lossy(&head_bytes);
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let status_line = lines.next().unwrap_or("");
        let (status, reason) = parse_status_line(status_line)?;
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                return Err(ParseError::HeaderLine(format!(
                    "obsolete line folding: {}",
                    clip(line)
                )));
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ParseError::HeaderLine(clip(line)))?;
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(ParseError::HeaderLine(clip(line)));
            }
            headers.push((name.to_string(), value.trim().to_string()));
            if headers.len() > self.limits.max_header_count {
                return Err(ParseError::TooManyHeaders(self.limits.max_header_count));
            }
        }
        let head = ResponseHead {
            status,
            reason,
            headers,
        };
        if (100..200).contains(&status) && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): the real one follows.
            return Ok(true);
        }
        self.state = framing(&head, self.head_request)?;
        self.head = Some(head);
        Ok(true)
    }

    fn parse_chunked(&mut self, chunk: Chunk) -> Result<bool, ParseError> {
        match chunk {
            Chunk::Size => {
                let Some(line_end) = self.buf.iter().position(|&b| b == b'\n') else {
                    if self.buf.len() > MAX_CHUNK_LINE {
                        return Err(ParseError::Chunked("chunk size line too long"));
                    }
                    return Ok(false);
                };
                if line_end > MAX_CHUNK_LINE {
                    return Err(ParseError::Chunked("chunk size line too long"));
                }
                let line: Vec<u8> = self.buf.drain(..=line_end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\r', '\n']);
                let size_text = line.split(';').next().unwrap_or("").trim();
                if size_text.is_empty()
                    || size_text.len() > 16
                    || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(ParseError::Chunked("invalid chunk size"));
                }
                let size = u64::from_str_radix(size_text, 16)
                    .map_err(|_| ParseError::Chunked("invalid chunk size"))?;
                self.state = if size == 0 {
                    State::Chunked(Chunk::Trailer)
                } else {
                    State::Chunked(Chunk::Data(size))
                };
                Ok(true)
            }
            Chunk::Data(remaining) => {
                let take = remaining.min(self.buf.len() as u64) as usize;
                if take == 0 {
                    return Ok(false);
                }
                let bytes: Vec<u8> = self.buf.drain(..take).collect();
                self.push_body(&bytes);
                let left = remaining - take as u64;
                self.state = State::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                Ok(true)
            }
            Chunk::DataEnd => {
                if self.buf.starts_with(b"\r\n") {
                    self.buf.drain(..2);
                } else if self.buf.starts_with(b"\n") {
                    self.buf.drain(..1);
                } else if self.buf.len() >= 2 || (self.buf.len() == 1 && self.buf[0] != b'\r') {
                    return Err(ParseError::Chunked("missing CRLF after chunk data"));
                } else {
                    return Ok(false);
                }
                self.state = State::Chunked(Chunk::Size);
                Ok(true)
            }
            Chunk::Trailer => {
                let Some(line_end) = self.buf.iter().position(|&b| b == b'\n') else {
                    if self.buf.len() > MAX_CHUNK_LINE {
                        return Err(ParseError::Chunked("trailer line too long"));
                    }
                    return Ok(false);
                };
                let line: Vec<u8> = self.buf.drain(..=line_end).collect();
                if line == b"\r\n" || line == b"\n" {
                    self.state = State::Done;
                }
                Ok(true)
            }
        }
    }
}

/// Where the head ends: (length of head text, offset of the body).
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

fn parse_status_line(line: &str) -> Result<(u16, String), ParseError> {
    let bad = || ParseError::StatusLine(clip(line));
    let rest = line.strip_prefix("HTTP/1.").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next().ok_or_else(bad)?;
    if minor != "0" && minor != "1" {
        return Err(bad());
    }
    let code = parts.next().ok_or_else(bad)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let status: u16 = code.parse().map_err(|_| bad())?;
    if !(100..=599).contains(&status) {
        return Err(bad());
    }
    Ok((status, parts.next().unwrap_or("").to_string()))
}

fn framing(head: &ResponseHead, head_request: bool) -> Result<State, ParseError> {
    if head_request || head.status == 204 || head.status == 304 || head.status == 101 {
        return Ok(State::Done);
    }
    let te: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(last) = te.last() {
        // Transfer-Encoding wins over Content-Length (RFC 9112 6.3).
        return Ok(if last.eq_ignore_ascii_case("chunked") {
            State::Chunked(Chunk::Size)
        } else {
            State::Close
        });
    }
    let mut length: Option<u64> = None;
    for (_, value) in head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() || part.len() > 19 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::ContentLength(clip(value)));
            }
            let n: u64 = part
                .parse()
                .map_err(|_| ParseError::ContentLength(clip(value)))?;
            if length.is_some_and(|l| l != n) {
                return Err(ParseError::ContentLength(format!(
                    "conflicting values {} and {n}",
                    length.unwrap_or(0)
                )));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => State::Done,
        Some(n) => State::Length(n),
        None => State::Close,
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out.escape_debug().to_string()
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], step: usize) -> Result<Response, ParseError> {
        let mut p = ResponseParser::new(ParseLimits::default(), false);
        let mut done = false;
        for chunk in input.chunks(step.max(1)) {
            if p.feed(chunk)? {
                done = true;
                break;
            }
        }
        if !done {
            p.eof()?;
        }
        p.finish()
    }

    #[test]
    fn content_length_byte_by_byte() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
        for step in [1, 2, 7, 1000] {
            let r = parse_all(raw, step).unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
            assert_eq!(r.body_sha256, sha256_hex(b"hello"));
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n";
        for step in [1, 3, 1000] {
            let r = parse_all(raw, step).unwrap();
            assert_eq!(r.body, b"hello world");
        }
    }

    #[test]
    fn close_delimited_and_interim() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nall of it";
        let r = parse_all(raw, 4).unwrap();
        assert_eq!(r.body, b"all of it");
    }

    #[test]
    fn head_and_no_body_statuses() {
        let mut p = ResponseParser::new(ParseLimits::default(), true);
        assert!(p
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            .unwrap());
        let r = parse_all(b"HTTP/1.1 204 No Content\r\n\r\n", 100).unwrap();
        assert_eq!(r.status, 204);
    }

    #[test]
    fn body_cap_truncates() {
        let limits = ParseLimits {
            max_body_bytes: 4,
            max_body_kept: 2,
            ..ParseLimits::default()
        };
        let mut p = ResponseParser::new(limits, false);
        assert!(p
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabcdefgh")
            .unwrap());
        let r = p.finish().unwrap();
        assert!(r.truncated);
        assert_eq!((r.body_len, r.body.as_slice()), (4, &b"ab"[..]));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[&[u8]] = &[
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 200 OK\r\n",
            b"",
        ];
        for case in cases {
            for step in [1, 1000] {
                assert!(
                    parse_all(case, step).is_err(),
                    "accepted {:?}",
                    String::from_utf8_lossy(case)
                );
            }
        }
    }

    #[test]
    fn caps_on_head() {
        let limits = ParseLimits {
            max_head_bytes: 64,
            max_header_count: 3,
            ..ParseLimits::default()
        };
        let mut p = ResponseParser::new(limits, false);
        let endless = vec![b'a'; 200];
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\nX: ")
                .and_then(|_| p.feed(&endless)),
            Err(ParseError::HeadTooLarge(64))
        );
        let mut p = ResponseParser::new(limits, false);
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\n\r\n"),
            Err(ParseError::TooManyHeaders(3))
        );
        // An endless chunk-size line is refused instead of buffered forever.
        let mut p = ResponseParser::new(ParseLimits::default(), false);
        p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        assert!(p.feed(&vec![b'1'; 5000]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator instead of a fuzzing dependency.
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let alphabet = b"HTTP/1.1 200 OK\r\n:chunkedContent-Length0123456789abcdef;\r\n\n ";
        for _ in 0..2000 {
            let len = (seed % 120) as usize;
            let mut input = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = parse_all(&input, (seed % 7) as usize + 1);
            let mut prefixed = b"HTTP/1.1 200 OK\r\n".to_vec();
            prefixed.extend_from_slice(&input);
            let _ = parse_all(&prefixed, 3);
        }
    }
}
