//! Small helpers with no better home: randomness and base64.

use std::io::Read;

/// `n` random bytes from the kernel, hex-encoded.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 (padding required); `None` when `s` is not base64.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (idx, chunk) in s.chunks(4).enumerate() {
        let last = idx == s.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Values clients send base64-encoded (scripts): kept as sent when already
/// base64, encoded otherwise, so responses are always base64.
pub fn as_base64(s: &str) -> String {
    if b64_decode(s).is_some() {
        s.to_string()
    } else {
        b64_encode(s.as_bytes())
    }
}

/// Text a client may have sent base64-encoded (the luna CLI encodes kernel
/// options and scripts): decoded when it is base64 of UTF-8 text, else as is.
pub fn decode_text(s: &str) -> String {
    match b64_decode(s).and_then(|b| String::from_utf8(b).ok()) {
        Some(text)
            if text
                .chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\t' || c == '\r') =>
        {
            text
        }
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "#!/bin/bash\nexit 0",
        ] {
            assert_eq!(b64_decode(&b64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(
            b64_decode("IyEvYmluL2Jhc2gKZXhpdCAw").unwrap(),
            b"#!/bin/bash\nexit 0"
        );
        assert!(b64_decode("#!/bin").is_none());
        assert!(b64_decode("Zg=a").is_none());
        assert_eq!(as_base64("#!/bin/bash"), "IyEvYmluL2Jhc2g=");
        assert_eq!(decode_text("cXVpZXQgbm9zbXQ="), "quiet nosmt");
        assert_eq!(
            decode_text("net.ifnames=0 biosdevname=0"),
            "net.ifnames=0 biosdevname=0"
        );
    }
}
