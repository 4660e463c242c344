//! Hostlist expressions in the python-hostlist syntax (as used by Slurm and pdsh):
//! `node[001-004,010],gpu[01-02]`. Commas separate entries; brackets hold numbers and
//! `lo-hi` ranges padded to the width of `lo`; several brackets in one entry multiply.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

/// Most names one expression may produce, counted before duplicates are removed,
/// so that `n[0-99999999999]` is refused before anything is allocated.
const MAX_NAMES: u64 = 100_000;
/// Longest name an expression may produce (the DNS limit), which bounds memory
/// at `MAX_NAMES * MAX_NAME_LEN` however the input is padded.
const MAX_NAME_LEN: usize = 253;
/// Offending text longer than this is shortened in error messages.
const QUOTE_LEN: usize = 64;

/// A malformed hostlist; the message names the problem and the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Expands "node[001-004,010],gpu[01-02]" into ["node001","node002","node003","node004","node010","gpu01","gpu02"].
///
/// Whitespace around entries and empty entries are ignored; duplicates are
/// removed, keeping the first occurrence.
pub fn expand(list: &str) -> Result<Vec<String>, Error> {
    let mut parsed = Vec::new();
    let mut total: u64 = 0;
    for entry in split_entries(list)? {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let segments = parse_entry(entry)?;
        // Size checks before anything is materialised.
        total = total.saturating_add(count(&segments));
        if total > MAX_NAMES {
            return Err(Error(format!(
                "hostlist expands to more than {MAX_NAMES} names at {}",
                quote(entry)
            )));
        }
        if max_len(&segments) > MAX_NAME_LEN {
            return Err(Error(format!(
                "names longer than {MAX_NAME_LEN} characters in {}",
                quote(entry)
            )));
        }
        parsed.push(segments);
    }

    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for segments in &parsed {
        for name in materialise(segments) {
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Compresses names into the shortest conventional hostlist, e.g. ["node001","node002","node003","node005","gpu01"] -> "gpu01,node[001-003,005]".
///
/// Like python-hostlist, names are grouped on their last number first, then on
/// the numbers to its left (`r1n1,r1n2,r2n1,r2n2` -> `r[1-2]n[1-2]`). Names are
/// trimmed; empty names and names `expand` would reject are left out.
pub fn compress<S: AsRef<str>>(names: &[S]) -> String {
    let unique: BTreeSet<&str> = names
        .iter()
        .map(|n| n.as_ref().trim())
        .filter(|n| valid_name(n))
        .collect();
    // (left, right): `left` is still to be analysed; `right` holds what earlier
    // passes have already collected and is only carried along.
    let mut parts: Vec<(String, String)> = unique
        .into_iter()
        .map(|n| (n.to_string(), String::new()))
        .collect();
    loop {
        let (next, again) = compress_pass(parts);
        parts = next;
        if !again {
            break;
        }
    }
    let mut entries: Vec<String> = parts.into_iter().map(|(l, r)| l + &r).collect();
    entries.sort_by(|a, b| natural_cmp(a, b).then_with(|| a.cmp(b)));
    entries.join(",")
}

/// One bracket item: `lo..=hi`, each number zero-padded to `width` digits.
#[derive(Debug, Clone, Copy)]
struct Item {
    lo: u64,
    hi: u64,
    width: usize,
}

#[derive(Debug)]
enum Segment<'a> {
    Text(&'a str),
    Bracket(Vec<Item>),
}

/// Splits at top-level commas, checking that brackets are balanced and flat.
fn split_entries(list: &str) -> Result<Vec<&str>, Error> {
    let mut entries = Vec::new();
    let mut start = 0;
    let mut open = false;
    for (i, c) in list.char_indices() {
        match c {
            '[' if open => {
                return Err(Error(format!(
                    "nested brackets in {}",
                    quote(&list[start..])
                )))
            }
            '[' => open = true,
            ']' if !open => {
                return Err(Error(format!(
                    "unbalanced brackets: unexpected ']' in {}",
                    quote(&list[start..=i])
                )))
            }
            ']' => open = false,
            ',' if !open => {
                entries.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if open {
        return Err(Error(format!(
            "unbalanced brackets: unclosed '[' in {}",
            quote(&list[start..])
        )));
    }
    entries.push(&list[start..]);
    Ok(entries)
}

/// Parses one entry (no top-level commas, brackets already known to be balanced).
fn parse_entry(entry: &str) -> Result<Vec<Segment<'_>>, Error> {
    let mut segments = Vec::new();
    let mut rest = entry;
    while !rest.is_empty() {
        let Some(open) = rest.find('[') else {
            check_text(rest, entry)?;
            segments.push(Segment::Text(rest));
            break;
        };
        let text = &rest[..open];
        if !text.is_empty() {
            check_text(text, entry)?;
            segments.push(Segment::Text(text));
        }
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            return Err(Error(format!(
                "unbalanced brackets: unclosed '[' in {}",
                quote(entry)
            )));
        };
        segments.push(Segment::Bracket(parse_bracket(
            &rest[open + 1..close],
            entry,
        )?));
        rest = &rest[close + 1..];
    }
    Ok(segments)
}

/// Text outside brackets: ASCII letters, digits, `-`, `_` and `.`.
fn check_text(text: &str, entry: &str) -> Result<(), Error> {
    match text.chars().find(|&c| !is_name_char(c)) {
        Some(c) => Err(Error(format!(
            "invalid character {c:?} in {}",
            quote(entry)
        ))),
        None => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A name `expand` accepts as a plain entry (and so can give back unchanged).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.chars().all(is_name_char)
}

/// Parses the inside of a bracket: comma-separated numbers and `lo-hi` ranges.
fn parse_bracket(body: &str, entry: &str) -> Result<Vec<Item>, Error> {
    if body.is_empty() {
        return Err(Error(format!("empty brackets in {}", quote(entry))));
    }
    body.split(',')
        .map(|item| parse_item(item, entry))
        .collect()
}

fn parse_item(item: &str, entry: &str) -> Result<Item, Error> {
    let Some((lo_text, hi_text)) = item.split_once('-') else {
        let n = parse_number(item, entry)?;
        return Ok(Item {
            lo: n,
            hi: n,
            width: item.len(),
        });
    };
    if lo_text.is_empty() || hi_text.is_empty() {
        return Err(Error(format!(
            "bad range {} in {}",
            quote(item),
            quote(entry)
        )));
    }
    let lo = parse_number(lo_text, entry)?;
    let hi = parse_number(hi_text, entry)?;
    if hi < lo {
        return Err(Error(format!(
            "bad range {}: start is greater than end in {}",
            quote(item),
            quote(entry)
        )));
    }
    Ok(Item {
        lo,
        hi,
        width: lo_text.len(),
    })
}

fn parse_number(text: &str, entry: &str) -> Result<u64, Error> {
    if text.is_empty() {
        return Err(Error(format!("empty item in brackets in {}", quote(entry))));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error(format!(
            "not a number or range: {} in {}",
            quote(text),
            quote(entry)
        )));
    }
    text.parse().map_err(|_| {
        Error(format!(
            "number too large: {} in {}",
            quote(text),
            quote(entry)
        ))
    })
}

/// How many names an entry produces (saturating, never allocates).
fn count(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text(_) => 1,
            Segment::Bracket(items) => items
                .iter()
                .map(|i| (i.hi - i.lo).saturating_add(1))
                .fold(0, u64::saturating_add),
        })
        .fold(1, u64::saturating_mul)
}

/// The length of the longest name an entry produces.
fn max_len(segments: &[Segment]) -> usize {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => t.len(),
            Segment::Bracket(items) => items
                .iter()
                .map(|i| i.width.max(digits(i.hi)))
                .max()
                .unwrap_or(0),
        })
        .fold(0, usize::saturating_add)
}

/// The names of one entry; the leftmost bracket varies slowest.
fn materialise(segments: &[Segment]) -> Vec<String> {
    let mut names = vec![String::new()];
    for segment in segments {
        match segment {
            Segment::Text(t) => names.iter_mut().for_each(|n| n.push_str(t)),
            Segment::Bracket(items) => {
                let mut next = Vec::new();
                for name in &names {
                    for &Item { lo, hi, width } in items {
                        next.extend((lo..=hi).map(|v| format!("{name}{v:0width$}")));
                    }
                }
                names = next;
            }
        }
    }
    names
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// One python-hostlist collection pass: groups the parts on the last number of
/// their left side and moves that number, as a bracket if needed, to the right.
/// Returns whether any number was found (another pass is then needed).
fn compress_pass(parts: Vec<(String, String)>) -> (Vec<(String, String)>, bool) {
    // (prefix, suffix + right) -> {(number, digit width)}
    let mut groups: BTreeMap<(String, String), BTreeSet<(u64, usize)>> = BTreeMap::new();
    let mut out = Vec::new();
    for (left, right) in parts {
        match split_last_number(&left) {
            Some((prefix, num, width, suffix)) => {
                groups
                    .entry((prefix.to_string(), format!("{suffix}{right}")))
                    .or_default()
                    .insert((num, width));
            }
            None => out.push((String::new(), left + &right)),
        }
    }
    let again = !groups.is_empty();
    for ((prefix, suffix), mut nums) in groups {
        let mut ranges = Vec::new();
        while let Some((lo, width)) = nums.pop_first() {
            // `lo-hi` expands with the width of `lo`: extend while the next
            // number, padded that way, is one of the names.
            let mut hi = lo;
            while let Some(n) = hi.checked_add(1) {
                if !nums.remove(&(n, width.max(digits(n)))) {
                    break;
                }
                hi = n;
            }
            ranges.push((lo, hi, width));
        }
        let right = match ranges.as_slice() {
            [(lo, hi, w)] if lo == hi => format!("{lo:0w$}{suffix}"),
            _ => {
                let items: Vec<String> = ranges
                    .iter()
                    .map(|&(lo, hi, w)| {
                        if lo == hi {
                            format!("{lo:0w$}")
                        } else {
                            format!("{lo:0w$}-{hi:0w$}")
                        }
                    })
                    .collect();
                format!("[{}]{suffix}", items.join(","))
            }
        };
        out.push((prefix, right));
    }
    (out, again)
}

/// Splits `left` around its last run of digits: (prefix, number, width, suffix).
/// `None` when there is no digit, or the number does not fit in a u64 (such a
/// name is then kept as it is).
fn split_last_number(left: &str) -> Option<(&str, u64, usize, &str)> {
    let end = left.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = left[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let num = left[start..end].parse().ok()?;
    Some((&left[..start], num, end - start, &left[end..]))
}

/// Orders strings with their digit runs compared as numbers (`n2` < `n10`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let (ta, ra) = split_token(a);
        let (tb, rb) = split_token(b);
        let a_num = ta.starts_with(|c: char| c.is_ascii_digit());
        let b_num = tb.starts_with(|c: char| c.is_ascii_digit());
        let order = match (a_num, b_num) {
            (true, true) => {
                let (za, zb) = (ta.trim_start_matches('0'), tb.trim_start_matches('0'));
                za.len().cmp(&zb.len()).then_with(|| za.cmp(zb))
            }
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => ta.cmp(tb),
        };
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (ra, rb);
    }
}

/// Splits off the leading run of digits, or of non-digits.
fn split_token(s: &str) -> (&str, &str) {
    let digit = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digit)
        .unwrap_or(s.len());
    s.split_at(end)
}

/// The offending text for an error message: quoted, escaped, and shortened.
fn quote(text: &str) -> String {
    if text.chars().count() <= QUOTE_LEN {
        format!("{text:?}")
    } else {
        let short: String = text.chars().take(QUOTE_LEN).collect();
        format!("{short:?}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(list: &str) -> Vec<String> {
        expand(list).unwrap()
    }

    fn err(list: &str) -> String {
        expand(list).unwrap_err().to_string()
    }

    /// Asserts that `list` is refused and that the message contains every `needle`.
    fn assert_err(list: &str, needles: &[&str]) {
        let msg = err(list);
        for needle in needles {
            assert!(msg.contains(needle), "{list:?}: {msg:?} lacks {needle:?}");
        }
    }

    #[test]
    fn plain_names() {
        assert_eq!(ex("node001"), ["node001"]);
        assert_eq!(ex("a,b.c,d-e,f_g"), ["a", "b.c", "d-e", "f_g"]);
        assert_eq!(ex("node1,node10"), ["node1", "node10"]);
    }

    #[test]
    fn single_range() {
        assert_eq!(ex("n[1-3]"), ["n1", "n2", "n3"]);
        assert_eq!(ex("n[7]"), ["n7"]);
        assert_eq!(ex("n[007]"), ["n007"]);
        assert_eq!(ex("[1-2]"), ["1", "2"]);
    }

    #[test]
    fn padding() {
        let names = ex("node[01-10]");
        assert_eq!(names.len(), 10);
        assert_eq!(names[0], "node01");
        assert_eq!(names[9], "node10");
        let names = ex("node[1-10]");
        assert_eq!(names[0], "node1");
        assert_eq!(names[8], "node9");
        assert_eq!(names[9], "node10");
        assert_eq!(
            ex("node[001-4]"),
            ["node001", "node002", "node003", "node004"]
        );
        assert_eq!(ex("n[9-11]"), ["n9", "n10", "n11"]);
        assert_eq!(ex("n[098-101]"), ["n098", "n099", "n100", "n101"]);
        // The width of hi is irrelevant, as in python-hostlist.
        assert_eq!(ex("n[8-010]"), ["n8", "n9", "n10"]);
        assert_eq!(ex("n[0-1]"), ["n0", "n1"]);
    }

    #[test]
    fn lists_in_brackets() {
        assert_eq!(
            ex("node[001-004,010],gpu[01-02]"),
            ["node001", "node002", "node003", "node004", "node010", "gpu01", "gpu02"]
        );
        assert_eq!(ex("n[1,3,5-6]"), ["n1", "n3", "n5", "n6"]);
        assert_eq!(ex("n[5,1]"), ["n5", "n1"]);
    }

    #[test]
    fn multiple_prefixes() {
        assert_eq!(ex("a[1-2],b[1-2],c"), ["a1", "a2", "b1", "b2", "c"]);
    }

    #[test]
    fn multiple_brackets_multiply() {
        assert_eq!(ex("r[1-2]n[1-2]"), ["r1n1", "r1n2", "r2n1", "r2n2"]);
        assert_eq!(
            ex("r[1-2]n[1-3]-ib"),
            ["r1n1-ib", "r1n2-ib", "r1n3-ib", "r2n1-ib", "r2n2-ib", "r2n3-ib"]
        );
        assert_eq!(ex("[1-2][1-2]"), ["11", "12", "21", "22"]);
    }

    #[test]
    fn suffix_after_bracket() {
        assert_eq!(ex("node[1-2]-ib"), ["node1-ib", "node2-ib"]);
        assert_eq!(ex("node[1-2].ipmi"), ["node1.ipmi", "node2.ipmi"]);
    }

    #[test]
    fn whitespace_and_empty_entries() {
        assert_eq!(
            ex("  node1 ,\tnode[2-3]\n, node4"),
            ["node1", "node2", "node3", "node4"]
        );
        assert_eq!(ex("node1,"), ["node1"]);
        assert_eq!(ex(",,node1,, ,node2,"), ["node1", "node2"]);
        assert!(ex("").is_empty());
        assert!(ex("   ").is_empty());
        assert!(ex(",").is_empty());
    }

    #[test]
    fn duplicates_keep_first_occurrence() {
        assert_eq!(ex("n3,n[1-3],n1,n2"), ["n3", "n1", "n2"]);
        assert_eq!(ex("n[1-2,2,1]"), ["n1", "n2"]);
        // Different padding is a different name.
        assert_eq!(ex("n1,n01"), ["n1", "n01"]);
    }

    #[test]
    fn bracket_errors() {
        assert_err("node[1-2", &["unbalanced", "node[1-2"]);
        assert_err("a,node[1-2,b", &["unbalanced", "node[1-2,b"]);
        assert_err("node1-2]", &["unbalanced", "node1-2]"]);
        assert_err("a[1]]", &["unbalanced", "a[1]]"]);
        assert_err("node[1[2]]", &["nested", "node[1[2]]"]);
        assert_err("node[]", &["empty brackets", "node[]"]);
        assert_err("x,node[]-ib", &["empty brackets", "node[]-ib"]);
    }

    #[test]
    fn item_errors() {
        assert_err("node[a]", &["not a number", "\"a\"", "node[a]"]);
        assert_err("node[1-b]", &["not a number", "\"b\"", "node[1-b]"]);
        assert_err("node[ 1]", &["not a number", "\" 1\""]);
        assert_err("node[+1]", &["not a number", "\"+1\""]);
        assert_err("node[1,,2]", &["empty item", "node[1,,2]"]);
        assert_err("node[1,]", &["empty item", "node[1,]"]);
        assert_err(
            "node[3-1]",
            &["start is greater than end", "\"3-1\"", "node[3-1]"],
        );
        assert_err("node[1-]", &["bad range", "\"1-\"", "node[1-]"]);
        assert_err("node[-2]", &["bad range", "\"-2\"", "node[-2]"]);
        assert_err("node[-]", &["bad range", "\"-\""]);
        assert_err("node[1-2-3]", &["not a number", "\"2-3\""]);
    }

    #[test]
    fn name_character_errors() {
        assert_err("no de1", &["invalid character ' '", "no de1"]);
        assert_err("node[1-2] x", &["invalid character ' '", "node[1-2] x"]);
        assert_err("a/b", &["invalid character '/'", "a/b"]);
        assert_err("a\"b", &["invalid character '\"'", "a\\\"b"]);
        assert_err("a'b", &["invalid character '\\''", "a'b"]);
        assert_err("a\u{1}b", &["invalid character '\\u{1}'", "a\\u{1}b"]);
        assert_err("nöde", &["invalid character 'ö'", "nöde"]);
        assert_err("ok,a;b", &["invalid character ';'", "a;b"]);
    }

    #[test]
    fn size_limit() {
        assert_eq!(ex("n[1-100000]").len(), 100_000);
        assert_err("n[1-100001]", &["more than 100000 names", "n[1-100001]"]);
        // The limit holds for the whole list, not per entry.
        assert_err("a[1-60000],b[1-60000]", &["more than 100000", "b[1-60000]"]);
        // A product of two brackets, each small on its own.
        assert_eq!(ex("r[1-100]n[1-1000]").len(), 100_000);
        assert_err(
            "r[1-400]n[1-400]",
            &["more than 100000", "r[1-400]n[1-400]"],
        );
        assert_err("r[0-99999]n[0-99999]c[0-99999]", &["more than 100000"]);
        // Refused from the count, with no allocation (this would be ~10^11 names).
        assert_err(
            "n[0-99999999999]",
            &["more than 100000", "n[0-99999999999]"],
        );
        assert_err(
            "n[0-18446744073709551615]",
            &["more than 100000", "n[0-18446744073709551615]"],
        );
        assert_err(
            "n[0-18446744073709551615,0-18446744073709551615]x[0-18446744073709551615]",
            &["more than 100000"],
        );
        assert_eq!(
            ex("n[18446744073709551614-18446744073709551615]"),
            ["n18446744073709551614", "n18446744073709551615"]
        );
    }

    #[test]
    fn name_length_limit() {
        let long = "a".repeat(MAX_NAME_LEN);
        assert_eq!(ex(&long), [long.as_str()]);
        assert_err(&format!("{long}b"), &["longer than 253"]);
        // Padding cannot be used to blow up memory either.
        let zeros = "0".repeat(300);
        assert_err(&format!("n[{zeros}1-99999]"), &["longer than 253"]);
    }

    #[test]
    fn u64_overflow() {
        assert_err(
            "n[18446744073709551616]",
            &["number too large", "18446744073709551616"],
        );
        assert_err(
            "n[1-99999999999999999999]",
            &["number too large", "99999999999999999999"],
        );
        assert_err(
            "n[99999999999999999999999999-99999999999999999999999999]",
            &["number too large"],
        );
        // Leading zeros do not make a number large.
        assert_eq!(
            ex("n[0000000000000000000000001]"),
            ["n0000000000000000000000001"]
        );
        // Outside brackets digits are just text.
        assert_eq!(ex("n99999999999999999999999"), ["n99999999999999999999999"]);
    }

    #[test]
    fn error_messages_are_bounded() {
        let msg = err(&format!("{}[", "a".repeat(10_000)));
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains("unbalanced"));
    }

    #[test]
    fn compress_examples() {
        assert_eq!(
            compress(&["node001", "node002", "node003", "node005", "gpu01"]),
            "gpu01,node[001-003,005]"
        );
        assert_eq!(compress(&["node001"]), "node001");
        assert_eq!(compress(&["login"]), "login");
        assert_eq!(compress::<&str>(&[]), "");
        assert_eq!(compress(&["n2", "n1", "n3", "n2"]), "n[1-3]");
        assert_eq!(compress(&["n1", "n3"]), "n[1,3]");
        assert_eq!(compress(&["n9", "n10", "n11"]), "n[9-11]");
        assert_eq!(compress(&["n09", "n10"]), "n[09-10]");
        assert_eq!(compress(&["n099", "n100", "n101"]), "n[099-101]");
        // A padded number does not run into an unpadded one of another width.
        assert_eq!(compress(&["n9", "n010"]), "n[9,010]");
        assert_eq!(compress(&["n1", "n01", "n2", "n02"]), "n[1-2,01-02]");
        assert_eq!(
            compress(&["node1-ib", "node2-ib", "node1"]),
            "node1,node[1-2]-ib"
        );
        assert_eq!(compress(&["b", "a", "n2", "n10"]), "a,b,n[2,10]");
        assert_eq!(compress(&["x2", "x10y"]), "x2,x10y");
        assert_eq!(
            compress(&[" n1 ", "", "n2", "bad name", "a,b", "c[1]"]),
            "n[1-2]"
        );
        assert_eq!(
            compress(&[
                "n18446744073709551615",
                "n18446744073709551616",
                "n18446744073709551614"
            ]),
            "n18446744073709551616,n[18446744073709551614-18446744073709551615]"
        );
    }

    #[test]
    fn compress_multiple_dimensions() {
        assert_eq!(compress(&["r1n1", "r1n2", "r2n1", "r2n2"]), "r[1-2]n[1-2]");
        assert_eq!(compress(&["r1n1", "r1n2", "r2n1"]), "r1n[1-2],r2n1");
        assert_eq!(compress(&["r1n1", "r1n2", "r3n1", "r3n2"]), "r[1,3]n[1-2]");
    }

    #[test]
    fn compress_round_trips_documented_example() {
        let list = "node[001-004,010],gpu[01-02]";
        assert_eq!(compress(&ex(list)), "gpu[01-02],node[001-004,010]");
        let mut want = ex(list);
        want.sort();
        let mut got = ex(&compress(&ex(list)));
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn compress_is_deterministic() {
        let mut names = ex("node[001-040],gpu[1-9],r[1-3]n[01-04]-ib,login");
        let first = compress(&names);
        names.reverse();
        assert_eq!(compress(&names), first);
        names.swap(0, 17);
        names.swap(5, 60);
        assert_eq!(compress(&names), first);
    }

    /// A tiny deterministic LCG (Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    fn assert_round_trip(names: &[String]) {
        let compressed = compress(names);
        let mut want: Vec<String> = names.to_vec();
        want.sort();
        want.dedup();
        let mut got = expand(&compressed).unwrap();
        got.sort();
        assert_eq!(got, want, "compressed: {compressed}");
        assert!(!compressed.contains(",,"), "{compressed}");
    }

    #[test]
    fn round_trip_hand_made() {
        let lists: &[&[&str]] = &[
            &[],
            &["a"],
            &["n1", "n2", "n4", "n5", "n7"],
            &["n8", "n9", "n10", "n11", "n011", "n012", "n0", "n00"],
            &["node001", "node002", "node003", "node005", "gpu01"],
            &["r1n1", "r1n2", "r2n1", "r2n2", "r2n3", "r10n1"],
            &["a1b2c3", "a1b2c4", "a2b2c3", "a2b2c4", "a1b3c3"],
            &["node1-ib", "node2-ib", "node1", "node2", "node1.ipmi"],
            &["x", "x1", "1", "2", "01", "10", "x-1", "x_2"],
            &[
                "n18446744073709551615",
                "n18446744073709551614",
                "n99999999999999999999",
            ],
        ];
        for list in lists {
            let names: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            assert_round_trip(&names);
        }
    }

    #[test]
    fn round_trip_pseudo_random() {
        const PREFIXES: &[&str] = &["node", "gpu", "n", "r1n", "rack", "x-", ""];
        const SUFFIXES: &[&str] = &["", "", "", "-ib", ".ipmi", "a"];
        let mut rng = Lcg(0x5eed);
        for _ in 0..300 {
            let len = rng.below(60);
            let names: Vec<String> = (0..len)
                .map(|_| {
                    let prefix = PREFIXES[rng.below(PREFIXES.len() as u64) as usize];
                    let suffix = SUFFIXES[rng.below(SUFFIXES.len() as u64) as usize];
                    let width = rng.below(4) as usize;
                    let num = rng.below(25);
                    let mut name = format!("{prefix}{num:0width$}{suffix}");
                    if rng.below(4) == 0 {
                        // A second number, for multi-dimensional grouping.
                        name = format!("{name}c{}", rng.below(4));
                    }
                    name
                })
                .collect();
            assert_round_trip(&names);
        }
    }
}
