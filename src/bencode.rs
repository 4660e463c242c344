//! Bencode (BEP 3), the encoding of `.torrent` files and of tracker replies.
//!
//! Four kinds of value: integers `i42e`, byte strings `4:spam`, lists `l…e`
//! and dictionaries `d…e` whose keys are byte strings sorted as raw bytes.
//! The encoder always writes the canonical form (a `BTreeMap` keeps the keys
//! sorted). The decoder is strict about what makes a value ambiguous (leading
//! zeros, `i-0e`, duplicate keys, trailing data) and bounded against hostile
//! input: nesting is limited to [`MAX_DEPTH`] and a declared string length is
//! checked against the bytes actually left before anything is allocated. It
//! accepts dictionaries whose keys are out of order, which some encoders write.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// Deepest nesting of lists and dictionaries [`decode`] accepts; torrents and
/// tracker replies need three or four levels.
pub const MAX_DEPTH: usize = 64;

/// Most digits in an integer or a string length: `i64::MIN` has 19 digits.
const MAX_DIGITS: usize = 19;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<decimal>e`
    Int(i64),
    /// `<length>:<bytes>`: names, URLs, SHA-1 digests, compact peer lists.
    Bytes(Vec<u8>),
    /// `l<values>e`
    List(Vec<Value>),
    /// `d<key><value>…e`, keys sorted as raw bytes when encoded.
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string holding the UTF-8 bytes of `s`.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A byte string.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(b.into())
    }

    /// An integer from any unsigned size or count; values above `i64::MAX`
    /// (which no file or counter reaches) saturate.
    pub fn uint(n: u64) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// A dictionary from `(key, value)` pairs with text keys; a later pair
    /// replaces an earlier one with the same key.
    pub fn dict<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// The canonical bencoding of the value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical bencoding of the value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The value under `key` if this is a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(map) => map.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a byte string holding UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(map) => Some(map),
            _ => None,
        }
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Decodes exactly one value that must span the whole of `input`.
/// The error names the problem and the byte offset where it was found.
pub fn decode(input: &[u8]) -> Result<Value, String> {
    let mut d = Decoder { input, pos: 0 };
    let value = d.value(0)?;
    if d.pos != input.len() {
        return Err(d.err("trailing data after the value"));
    }
    Ok(value)
}

/// A cursor over the input; `pos` is the next byte to read.
struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn err(&self, what: &str) -> String {
        format!("bencode: {what} at byte {}", self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// One value; `depth` counts the lists and dictionaries around it.
    fn value(&mut self, depth: usize) -> Result<Value, String> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'i') => self.int().map(Value::Int),
            Some(b'0'..=b'9') => self.bytes().map(Value::Bytes),
            Some(b'l') => {
                self.enter(depth)?;
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err(self.err("unterminated list")),
                        Some(b'e') => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        Some(_) => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(b'd') => {
                self.enter(depth)?;
                let mut map = BTreeMap::new();
                loop {
                    match self.peek() {
                        None => return Err(self.err("unterminated dictionary")),
                        Some(b'e') => {
                            self.pos += 1;
                            return Ok(Value::Dict(map));
                        }
                        Some(b'0'..=b'9') => {
                            let at = self.pos;
                            let key = self.bytes()?;
                            let value = self.value(depth + 1)?;
                            if map.insert(key, value).is_some() {
                                return Err(format!(
                                    "bencode: duplicate dictionary key at byte {at}"
                                ));
                            }
                        }
                        Some(_) => return Err(self.err("dictionary key is not a byte string")),
                    }
                }
            }
            Some(_) => Err(self.err("unexpected byte")),
        }
    }

    /// Steps over the `l` or `d` of a container nested `depth` deep.
    fn enter(&mut self, depth: usize) -> Result<(), String> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.pos += 1;
        Ok(())
    }

    /// The decimal digits at the cursor, at least one and at most
    /// `MAX_DIGITS`, without a leading zero unless the number is 0.
    fn digits(&mut self) -> Result<u64, String> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = &self.input[start..self.pos];
        if digits.is_empty() {
            return Err(self.err("expected a digit"));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(format!("bencode: leading zero at byte {start}"));
        }
        if digits.len() > MAX_DIGITS {
            return Err(format!("bencode: number too long at byte {start}"));
        }
        // At most 19 digits: fits in a u64 without overflow.
        Ok(digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
    }

    /// `i<decimal>e` with an optional minus sign; `i-0e` is refused.
    fn int(&mut self) -> Result<i64, String> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let magnitude = self.digits()?;
        if self.peek() != Some(b'e') {
            return Err(self.err("integer not terminated by 'e'"));
        }
        self.pos += 1;
        let out_of_range = || format!("bencode: integer out of range at byte {start}");
        if negative {
            if magnitude == 0 {
                return Err(format!("bencode: negative zero at byte {start}"));
            }
            // -(2^63) is the one magnitude that does not fit as a positive i64.
            0i64.checked_sub_unsigned(magnitude)
                .ok_or_else(out_of_range)
        } else {
            i64::try_from(magnitude).map_err(|_| out_of_range())
        }
    }

    /// `<length>:<bytes>`; the length is compared with what is left of the
    /// input before the bytes are copied.
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let len = self.digits()?;
        if self.peek() != Some(b':') {
            return Err(self.err("string length not followed by ':'"));
        }
        self.pos += 1;
        let left = self.input.len() - self.pos;
        let len = match usize::try_from(len) {
            Ok(len) if len <= left => len,
            _ => return Err(self.err("string longer than the remaining input")),
        };
        let b = self.input[self.pos..self.pos + len].to_vec();
        self.pos += len;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: &Value) {
        let bytes = v.encode();
        assert_eq!(
            &decode(&bytes).unwrap(),
            v,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[test]
    fn encodes_each_kind() {
        assert_eq!(Value::Int(0).encode(), b"i0e");
        assert_eq!(Value::Int(-42).encode(), b"i-42e");
        assert_eq!(Value::Int(i64::MIN).encode(), b"i-9223372036854775808e");
        assert_eq!(Value::str("spam").encode(), b"4:spam");
        assert_eq!(Value::str("").encode(), b"0:");
        assert_eq!(
            Value::List(vec![Value::str("spam"), Value::Int(3)]).encode(),
            b"l4:spami3ee"
        );
        assert_eq!(Value::List(vec![]).encode(), b"le");
        assert_eq!(Value::dict([]).encode(), b"de");
    }

    #[test]
    fn dict_keys_are_sorted_as_raw_bytes() {
        let v = Value::dict([
            ("zebra", Value::Int(1)),
            ("Zebra", Value::Int(2)),
            ("piece length", Value::Int(3)),
            ("pieces", Value::Int(4)),
            ("a", Value::Int(5)),
        ]);
        assert_eq!(
            v.encode(),
            b"d5:Zebrai2e1:ai5e12:piece lengthi3e6:piecesi4e5:zebrai1ee".to_vec()
        );
        // Bytes above 0x7f sort after ASCII, as unsigned bytes.
        let mut map = BTreeMap::new();
        map.insert(vec![0xff], Value::Int(1));
        map.insert(vec![0x01], Value::Int(2));
        assert_eq!(Value::Dict(map).encode(), b"d1:\x01i2e1:\xffi1ee".to_vec());
    }

    #[test]
    fn round_trips() {
        roundtrip(&Value::Int(i64::MAX));
        roundtrip(&Value::Int(i64::MIN));
        roundtrip(&Value::bytes(vec![0u8, 255, b'e', b':', b'd']));
        roundtrip(&Value::dict([
            (
                "announce",
                Value::str("http://10.141.255.254:7050/announce"),
            ),
            (
                "info",
                Value::dict([
                    ("length", Value::Int(1 << 40)),
                    ("name", Value::str("compute.tar.bz2")),
                    ("pieces", Value::bytes(vec![7u8; 60])),
                ]),
            ),
            (
                "url-list",
                Value::List(vec![Value::str("http://x/y"), Value::List(vec![])]),
            ),
        ]));
        let mut deep = Value::Int(1);
        for _ in 0..MAX_DEPTH {
            deep = Value::List(vec![deep]);
        }
        roundtrip(&deep);
    }

    #[test]
    fn accessors() {
        let v = decode(b"d1:ai-1e1:b3:xyz1:cli1ee1:dde1:e2:\xff\xfee").unwrap();
        assert_eq!(v.get("a").and_then(Value::as_int), Some(-1));
        assert_eq!(v.get("b").and_then(Value::as_str), Some("xyz"));
        assert_eq!(
            v.get("c").and_then(Value::as_list).map(<[Value]>::len),
            Some(1)
        );
        assert!(v
            .get("d")
            .and_then(Value::as_dict)
            .is_some_and(BTreeMap::is_empty));
        assert_eq!(v.get("e").and_then(Value::as_str), None);
        assert_eq!(v.get("e").and_then(Value::as_bytes), Some(&b"\xff\xfe"[..]));
        assert_eq!(v.get("zz"), None);
        assert_eq!(Value::Int(1).get("a"), None);
        assert_eq!(Value::uint(u64::MAX), Value::Int(i64::MAX));
    }

    #[test]
    fn accepts_unsorted_keys() {
        let v = decode(b"d1:bi1e1:ai2ee").unwrap();
        assert_eq!(v, Value::dict([("a", Value::Int(2)), ("b", Value::Int(1))]));
        // Re-encoding sorts them.
        assert_eq!(v.encode(), b"d1:ai2e1:bi1ee");
    }

    #[test]
    fn rejects_malformed_input() {
        let bad: &[&[u8]] = &[
            b"",
            b"i",
            b"ie",
            b"i-e",
            b"i-0e",
            b"i03e",
            b"i-03e",
            b"i00e",
            b"i1",
            b"i1x",
            b"i+1e",
            b"i 1e",
            b"i9223372036854775808e",
            b"i-9223372036854775809e",
            b"i99999999999999999999e",
            b"01:a",
            b"00:",
            b"1a",
            b"4:spa",
            b"5",
            b"-1:a",
            b"l",
            b"li1e",
            b"d",
            b"d1:a",
            b"d1:ai1e",
            b"di1ei2ee",
            b"dlei1ee",
            b"d1:ai1e1:ai2ee",
            b"i1ei2e",
            b"4:spamx",
            b"le ",
            b"x",
            b"e",
        ];
        for input in bad {
            assert!(
                decode(input).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn errors_name_the_problem_and_offset() {
        assert_eq!(
            decode(b"i-0e").unwrap_err(),
            "bencode: negative zero at byte 0"
        );
        assert_eq!(
            decode(b"d1:ai1e1:ai2ee").unwrap_err(),
            "bencode: duplicate dictionary key at byte 7"
        );
        assert_eq!(
            decode(b"i1ex").unwrap_err(),
            "bencode: trailing data after the value at byte 3"
        );
    }

    #[test]
    fn hostile_lengths_do_not_allocate() {
        // Would be a ~1 GB allocation if the length were trusted.
        assert!(decode(b"999999999:abc").is_err());
        assert!(decode(b"999999999999:").is_err());
        assert!(decode(b"9999999999999999999:").is_err());
        // More than 19 digits is refused before any arithmetic.
        assert!(decode(b"99999999999999999999999:").is_err());
        assert!(decode(b"l999999999999:e").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = [vec![b'l'; MAX_DEPTH], vec![b'e'; MAX_DEPTH]].concat();
        assert!(decode(&ok).is_ok());
        let too_deep = [vec![b'l'; MAX_DEPTH + 1], vec![b'e'; MAX_DEPTH + 1]].concat();
        assert!(decode(&too_deep).unwrap_err().contains("nesting too deep"));
        // A hostile input far deeper than the stack allows fails cleanly.
        assert!(decode(&vec![b'l'; 1_000_000]).is_err());
        let dicts = b"d1:a".repeat(MAX_DEPTH + 1);
        assert!(decode(&dicts).unwrap_err().contains("nesting too deep"));
    }
}
