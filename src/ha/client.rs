//! The small HTTP/1.1 client controllers use to talk to each other: one
//! request per connection, by IP address, with time limits on connecting,
//! writing and reading, and a bound on the reply's size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The largest reply read (a table's rows for `/table/data`).
const REPLY_MAX: usize = 256 << 20;

/// `method path` on `addr` with `token` and a JSON `body`; answers the
/// status and the body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&[u8]>,
    limit: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    let body = body.unwrap_or(&[]);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nx-access-tokens: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut reply = Vec::new();
    s.take(REPLY_MAX as u64 + 1)
        .read_to_end(&mut reply)
        .map_err(|e| format!("{addr}: {e}"))?;
    if reply.len() > REPLY_MAX {
        return Err(format!("{addr}: reply larger than {REPLY_MAX} bytes"));
    }
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{addr}: no complete reply"))?;
    let head = String::from_utf8_lossy(&reply[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr}: malformed status line"))?;
    Ok((status, reply[end + 4..].to_vec()))
}

/// `GET path` on `addr` into the file `dest` (through `<dest>.partial`,
/// renamed when complete), streamed: image files are gigabytes.
pub fn download(
    addr: SocketAddr,
    path: &str,
    token: &str,
    dest: &std::path::Path,
    limit: Duration,
) -> Result<u64, String> {
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nx-access-tokens: {token}\r\n\r\n"
    );
    s.write_all(head.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    // The head, byte by byte up to its end (it is small).
    let mut headbuf = Vec::new();
    let mut byte = [0u8; 1];
    while !headbuf.ends_with(b"\r\n\r\n") {
        if headbuf.len() > 16 << 10 {
            return Err(format!("{addr}: reply head too large"));
        }
        let n = s.read(&mut byte).map_err(|e| format!("{addr}: {e}"))?;
        if n == 0 {
            return Err(format!("{addr}: no complete reply"));
        }
        headbuf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&headbuf);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr}: malformed status line"))?;
    if status != 200 {
        return Err(format!("GET {path} answered {status}"));
    }
    let length: Option<u64> = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    });
    let partial = std::path::PathBuf::from(format!("{}.partial", dest.display()));
    let mut file =
        std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let copied = std::io::copy(&mut s, &mut file).map_err(|e| format!("{addr}: {e}"));
    let copied = match copied {
        Ok(n) if length.is_none_or(|l| l == n) => n,
        Ok(n) => {
            let _ = std::fs::remove_file(&partial);
            return Err(format!("GET {path}: {n} bytes of {}", length.unwrap_or(0)));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    file.sync_all().map_err(|e| e.to_string())?;
    std::fs::rename(&partial, dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok(copied)
}
