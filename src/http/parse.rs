//! Request heads and bodies: what a client sent, checked before any work is
//! done for it.
//!
//! httparse tokenizes the head; everything it leaves to the caller is decided
//! here: the body's framing (`Content-Length` or chunked, never both), the limits
//! that can be judged from the head alone (a declared length over the body limit
//! is refused before a byte of it is read, whatever the number), `Expect`, and
//! keep-alive. A chunked body is decoded incrementally by [`Chunked`], so the
//! event loop can feed it whatever bytes arrived.

use super::Method;

/// A refusal: the status and the message for the JSON body. The connection is
/// closed after it is sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    /// The method as sent, for the log.
    pub method_name: String,
    /// The request target's path, without the query string.
    pub path: String,
    /// The query string (after `?`), still percent-encoded.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    /// HTTP/1.1 (true) or HTTP/1.0.
    pub http11: bool,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// The `Range` header of a GET or HEAD, applied to file replies.
    pub range: Option<String>,
    /// Bytes the head took in the buffer.
    pub len: usize,
}

/// The limits a head is judged by.
pub struct HeadLimits {
    pub header_bytes_max: usize,
    pub header_count_max: usize,
    pub body_bytes_max: u64,
}

/// Where the head ends in `buf` (the index just past its blank line), looking
/// only at bytes from `from` on. `from` lets a caller that appends bytes search
/// each byte once.
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1..].starts_with(b"\r\n") {
                return Some(i + 3);
            }
            if buf[i + 1..].starts_with(b"\n") {
                return Some(i + 2);
            }
        }
        i += 1;
    }
    None
}

/// Parses a complete head (`buf` holds at least the bytes up to its blank line).
pub fn head(buf: &[u8], limits: &HeadLimits) -> Result<Head, Refusal> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.header_count_max];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(Refusal::new(400, "malformed request head"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                431,
                format!(
                    "request header fields too large: more than {} headers",
                    limits.header_count_max
                ),
            ));
        }
        Err(e) => return Err(Refusal::new(400, malformed(e, buf))),
    };
    if len > limits.header_bytes_max {
        return Err(too_large_head(limits));
    }
    let method_name = req.method.unwrap_or_default().to_string();
    let method = match method_name.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "HEAD" => Method::Head,
        "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "TRACE" | "CONNECT" => Method::Other,
        other => {
            return Err(Refusal::new(
                501,
                format!("method '{}' is not implemented", other.escape_default()),
            ))
        }
    };
    let target = req.path.unwrap_or_default();
    if !target.starts_with('/') {
        return Err(Refusal::new(
            400,
            format!(
                "request target '{}' is not an absolute path",
                target.escape_default()
            ),
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let http11 = req.version == Some(1);

    let mut headers = Vec::with_capacity(req.headers.len());
    let mut length: Option<u64> = None;
    let mut oversized = false;
    let mut chunked = false;
    let mut connection_close = !http11;
    let mut expect_continue = false;
    let mut range = None;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| {
                Refusal::new(
                    400,
                    format!("header '{}' is not valid UTF-8", h.name.escape_default()),
                )
            })?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            // A list ("5, 5") or repeated headers must all agree.
            for item in value.split(',') {
                match content_length(item.trim(), limits.body_bytes_max)? {
                    Declared::Oversized => oversized = true,
                    Declared::Bytes(n) => {
                        if length.is_some_and(|l| l != n) {
                            return Err(Refusal::new(
                                400,
                                "conflicting Content-Length values in one request",
                            ));
                        }
                        length = Some(n);
                    }
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(Refusal::new(
                    400,
                    "Transfer-Encoding is not allowed in an HTTP/1.0 request",
                ));
            }
            if chunked || !value.eq_ignore_ascii_case("chunked") {
                return Err(Refusal::new(
                    501,
                    format!(
                        "transfer coding '{}' is not implemented (only chunked)",
                        value.escape_default()
                    ),
                ));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    connection_close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    connection_close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(Refusal::new(
                    417,
                    format!("expectation '{}' is not supported", value.escape_default()),
                ));
            }
            expect_continue = http11;
        } else if name.eq_ignore_ascii_case("range") {
            range = Some(value.to_string());
        }
        headers.push((name.to_string(), value.to_string()));
    }
    if chunked && (length.is_some() || oversized) {
        return Err(Refusal::new(
            400,
            "Content-Length and Transfer-Encoding: chunked together",
        ));
    }
    if oversized {
        return Err(too_large_body(limits.body_bytes_max));
    }
    let framing = if chunked {
        Framing::Chunked
    } else {
        Framing::Length(length.unwrap_or(0))
    };
    if !matches!(method, Method::Get | Method::Head) {
        range = None;
    }
    Ok(Head {
        method,
        method_name,
        path,
        query,
        headers,
        framing,
        http11,
        keep_alive: !connection_close,
        expect_continue,
        range,
        len,
    })
}

enum Declared {
    Bytes(u64),
    Oversized,
}

/// A `Content-Length` value: digits only. A number too large for any integer is
/// still a number, and only too large.
fn content_length(v: &str, max: u64) -> Result<Declared, Refusal> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::new(
            400,
            format!("invalid Content-Length '{}'", v.escape_default()),
        ));
    }
    match v.parse::<u64>() {
        Ok(n) if n <= max => Ok(Declared::Bytes(n)),
        _ => Ok(Declared::Oversized),
    }
}

pub fn too_large_body(max: u64) -> Refusal {
    Refusal::new(
        413,
        format!("request body too large: the limit is {max} bytes"),
    )
}

pub fn too_large_head(limits: &HeadLimits) -> Refusal {
    Refusal::new(
        431,
        format!(
            "request header fields too large: the limit is {} bytes",
            limits.header_bytes_max
        ),
    )
}

fn malformed(e: httparse::Error, buf: &[u8]) -> String {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = String::from_utf8_lossy(&buf[..line_end.min(200)]);
    match e {
        httparse::Error::Token | httparse::Error::Version => format!(
            "malformed request line '{}'",
            line.trim_end().escape_default()
        ),
        other => format!("malformed request head: {other}"),
    }
}

/// An incremental decoder for a chunked body.
#[derive(Debug)]
pub struct Chunked {
    state: ChunkState,
    /// The chunk-size or trailer line being collected.
    line: Vec<u8>,
    trailer_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// A chunk-size line (with extensions) longer than this is refused.
const CHUNK_LINE_BYTES_MAX: usize = 4096;

impl Chunked {
    pub fn new() -> Chunked {
        Chunked {
            state: ChunkState::Size,
            line: Vec::new(),
            trailer_bytes: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from `input`, appending data to `body`. Returns how many
    /// bytes of `input` were used; stops at the end of the body.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        body_bytes_max: u64,
        trailer_bytes_max: usize,
    ) -> Result<usize, Refusal> {
        let mut i = 0;
        while i < input.len() && self.state != ChunkState::Done {
            match self.state {
                ChunkState::Size | ChunkState::Trailer | ChunkState::DataEnd => {
                    let b = input[i];
                    i += 1;
                    if b != b'\n' {
                        self.line.push(b);
                        if self.line.len() > CHUNK_LINE_BYTES_MAX {
                            return Err(Refusal::new(400, "chunk line too long"));
                        }
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = self.line_done(line, body.len() as u64, body_bytes_max)?;
                    if self.state == ChunkState::Trailer {
                        self.trailer_bytes += line.len() + 2;
                        if self.trailer_bytes > trailer_bytes_max {
                            return Err(Refusal::new(431, "chunked trailer too large"));
                        }
                    }
                }
                ChunkState::Data(left) => {
                    let n = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    body.extend_from_slice(&input[i..i + n]);
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Done => {}
            }
        }
        Ok(i)
    }

    fn line_done(&self, line: &[u8], have: u64, max: u64) -> Result<ChunkState, Refusal> {
        match self.state {
            ChunkState::Size => {
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size).unwrap_or("").trim();
                if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Refusal::new(
                        400,
                        format!(
                            "malformed chunk size '{}'",
                            String::from_utf8_lossy(line).escape_default()
                        ),
                    ));
                }
                let n = u64::from_str_radix(size, 16).unwrap_or(u64::MAX);
                if n > max.saturating_sub(have) {
                    return Err(too_large_body(max));
                }
                Ok(if n == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(n)
                })
            }
            ChunkState::DataEnd if line.is_empty() => Ok(ChunkState::Size),
            ChunkState::DataEnd => Err(Refusal::new(400, "chunk data longer than its size")),
            ChunkState::Trailer if line.is_empty() => Ok(ChunkState::Done),
            ChunkState::Trailer => Ok(ChunkState::Trailer),
            _ => Ok(self.state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        header_bytes_max: 16384,
        header_count_max: 8,
        body_bytes_max: 1000,
    };

    fn parse(text: &str) -> Result<Head, Refusal> {
        head(text.as_bytes(), &LIMITS)
    }

    #[test]
    fn head_end_finds_crlf_and_bare_lf() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        let buf = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(head_end(buf, 17), Some(18), "a boundary split across reads");
    }

    #[test]
    fn framing_keep_alive_and_expect() {
        let h = parse("POST /a?x=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!((h.path.as_str(), h.framing), ("/a", Framing::Length(5)));
        assert!(h.keep_alive && h.http11 && !h.expect_continue);
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let h =
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
                .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.expect_continue);
        let h =
            parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\n").unwrap();
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn refusals_name_the_problem() {
        for (text, status) in [
            ("GET /a b HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            ("BREW / HTTP/1.1\r\n\r\n", 501),
            ("GET / HTTP/1.1\r\nExpect: tea\r\n\r\n", 417),
            ("GET x HTTP/1.1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413),
            (
                "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
                413,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 999999999999999999999999999999\r\n\r\n",
                413,
            ),
        ] {
            let r = parse(text).expect_err(text);
            assert_eq!(r.status, status, "{text:?}: {}", r.message);
            assert!(!r.message.is_empty());
        }
        let many: String = (0..9).map(|i| format!("X-{i}: y\r\n")).collect();
        let r = parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).expect_err("headers");
        assert_eq!(r.status, 431);
        let r = head(b"GET /\xff HTTP/1.1\r\n\r\n", &LIMITS).expect_err("bytes");
        assert_eq!(r.status, 400);
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, wire.len()] {
            let mut dec = Chunked::new();
            let mut body = Vec::new();
            let mut used = 0;
            for piece in wire.chunks(step) {
                if dec.done() {
                    break;
                }
                used += dec.feed(piece, &mut body, 1000, 1000).unwrap();
            }
            assert!(dec.done());
            assert_eq!(body, b"Wikipedia");
            assert_eq!(&wire[used..], b"NEXT", "step {step}");
        }
        let mut body = Vec::new();
        let r = Chunked::new().feed(b"zz\r\n", &mut body, 1000, 1000);
        assert_eq!(r.unwrap_err().status, 400);
        let r = Chunked::new().feed(b"3e9\r\n", &mut body, 1000, 1000);
        assert_eq!(r.unwrap_err().status, 413);
        let r = Chunked::new().feed(b"ffffffffffffffffffffff\r\n", &mut body, 1000, 1000);
        assert_eq!(r.unwrap_err().status, 413);
        let r = Chunked::new().feed(b"2\r\nabc\r\n", &mut body, 1000, 1000);
        assert_eq!(r.unwrap_err().status, 400);
    }
}
