//! Reply heads: status line, `Date`, `Content-Type`, `Content-Length`,
//! `Connection`, the handler's own headers, and byte ranges of file replies.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Body, Outgoing};

/// A JSON `{"message": ...}` reply.
pub fn error(status: u16, message: &str) -> Outgoing {
    Outgoing {
        status,
        content_type: "application/json",
        body: Body::Bytes(
            serde_json::json!({ "message": message })
                .to_string()
                .into_bytes(),
        ),
        headers: Vec::new(),
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The `Date` header value, recomputed once a second.
pub struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    pub fn new() -> DateCache {
        DateCache {
            second: u64::MAX,
            text: String::new(),
        }
    }

    pub fn now(&mut self) -> &str {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.second {
            self.second = secs;
            self.text = imf_fixdate(secs);
        }
        &self.text
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
pub fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes a reply head. `length` is the body length announced.
pub fn head(out: &mut Vec<u8>, reply: &Outgoing, length: u64, date: &str, connection: Connection) {
    use std::io::Write;
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nDate: {date}\r\nContent-Type: {}\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type
    );
    // RFC 9110 §8.6: never on a 204, which has no body by definition.
    if reply.status != 204 {
        let _ = write!(out, "Content-Length: {length}\r\n");
    }
    match connection {
        Connection::Close => out.extend_from_slice(b"Connection: close\r\n"),
        Connection::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Connection::Default => {}
    }
    for (name, value) in &reply.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        // A value never ends the head early: line breaks become spaces.
        out.extend(
            value
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Connection {
    /// HTTP/1.1 keep-alive: nothing to say.
    Default,
    /// HTTP/1.0 keep-alive must be announced.
    KeepAlive10,
    Close,
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Range {
    /// Serve the whole body (no header, or one we do not honour).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    Unsatisfiable,
}

/// One range in `bytes=a-b`, `bytes=a-` or `bytes=-n` form. Several ranges, or a
/// header we cannot read, get the whole body, as RFC 9110 allows.
pub fn range(header: &str, len: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            Some(s.parse().unwrap_or(u64::MAX))
        }
    };
    let (a, b) = (a.trim(), b.trim());
    match (num(a), num(b)) {
        (Some(start), _) if start >= len => Range::Unsatisfiable,
        (Some(start), Some(end)) if end >= start => Range::Part(start, end.min(len - 1)),
        (Some(_), Some(_)) => Range::Whole,
        (Some(start), None) if b.is_empty() => Range::Part(start, len - 1),
        (None, Some(0)) if a.is_empty() => Range::Unsatisfiable,
        (None, Some(n)) if a.is_empty() => {
            if len == 0 {
                Range::Unsatisfiable
            } else {
                Range::Part(len.saturating_sub(n), len - 1)
            }
        }
        _ => Range::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 GMT");
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=10-19", 100), Range::Part(10, 19));
        assert_eq!(range("bytes=10-", 100), Range::Part(10, 99));
        assert_eq!(range("bytes=-5", 100), Range::Part(95, 99));
        assert_eq!(range("bytes=-500", 100), Range::Part(0, 99));
        assert_eq!(range("bytes=90-500", 100), Range::Part(90, 99));
        assert_eq!(range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 100), Range::Whole);
        assert_eq!(range("items=0-1", 100), Range::Whole);
        assert_eq!(range("bytes=5-1", 100), Range::Whole);
        assert_eq!(range("bytes=x-1", 100), Range::Whole);
    }

    #[test]
    fn head_values_cannot_end_the_head() {
        let mut out = Vec::new();
        let mut reply = error(404, "x");
        reply.headers.push(("X-Test", "a\r\nInjected: yes".into()));
        head(&mut out, &reply, 15, "D", Connection::Close);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nDate: D\r\n"));
        assert!(text.contains("Content-Length: 15\r\nConnection: close\r\n"));
        assert!(text.contains("X-Test: a  Injected: yes\r\n\r\n"));
        let mut out = Vec::new();
        head(&mut out, &error(204, ""), 0, "D", Connection::Default);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Content-Length"), "{text}");
    }
}
