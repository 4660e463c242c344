//! The directory that holds OS users and groups, reached with the ldap-utils
//! commands (`ldapsearch`, `ldapadd`, `ldapmodify`, `ldapdelete`).
//!
//! Every value written goes base64-encoded into the LDIF (`attr:: ...`), so no
//! value a client sends can add lines, attributes or entries of its own. The
//! bind password is passed in a 0600 file (`-y`), never on a command line.
//! Passwords are stored as salted SHA-1 (`{SSHA}`, OpenLDAP's built-in scheme)
//! and never read back.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::util::{b64_decode, b64_encode};

pub struct Directory {
    uri: String,
    pub base: String,
    binddn: String,
    password_file: PathBuf,
}

/// One entry: its DN and attributes in the order the server gave them.
pub struct Entry {
    pub dn: String,
    pub attrs: Vec<(String, String)>,
}

impl Entry {
    pub fn first(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.attrs
            .iter()
            .filter(|(a, _)| a.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// LDAP result code for "no such object".
const NO_SUCH_OBJECT: i32 = 32;

impl Directory {
    /// `None` when `[LDAP] URI` is empty: the OS user endpoints then answer 503.
    pub fn from_config(cfg: &crate::config::Config) -> std::io::Result<Option<Directory>> {
        if cfg.ldap_uri.is_empty() {
            return Ok(None);
        }
        let password_file = cfg.data_dir.join("ldap.bindpw");
        let _ = std::fs::remove_file(&password_file);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&password_file)?;
        f.write_all(cfg.ldap_bindpw.as_bytes())?;
        Ok(Some(Directory {
            uri: cfg.ldap_uri.clone(),
            base: cfg.ldap_base.clone(),
            binddn: cfg.ldap_binddn.clone(),
            password_file,
        }))
    }

    fn common(&self) -> Vec<String> {
        vec![
            "-x".into(),
            "-H".into(),
            self.uri.clone(),
            "-D".into(),
            self.binddn.clone(),
            "-y".into(),
            self.password_file.display().to_string(),
        ]
    }

    /// Entries under `base` matching `filter` (built by the caller from fixed
    /// parts and validated names only).
    pub fn search(&self, base: &str, filter: &str) -> Result<Vec<Entry>, String> {
        let mut args = self.common();
        args.extend(["-LLL", "-o", "ldif-wrap=no", "-b", base, filter].map(String::from));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = crate::services::run_input("ldapsearch", &argv, None)?;
        if code == NO_SUCH_OBJECT {
            return Ok(Vec::new());
        }
        if code != 0 {
            return Err(format!("ldapsearch failed ({code}): {}", err.trim()));
        }
        Ok(parse_ldif(&out))
    }

    /// Applies LDIF with `ldapadd` or `ldapmodify`.
    pub fn apply(&self, program: &str, ldif: &str) -> Result<(), String> {
        let args = self.common();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = crate::services::run_input(program, &argv, Some(ldif))?;
        if code != 0 {
            return Err(format!("{program} failed ({code}): {}", err.trim()));
        }
        Ok(())
    }

    pub fn delete(&self, dn: &str) -> Result<(), String> {
        let mut args = self.common();
        args.push(dn.to_string());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = crate::services::run_input("ldapdelete", &argv, None)?;
        if code != 0 {
            return Err(format!("ldapdelete failed ({code}): {}", err.trim()));
        }
        Ok(())
    }
}

/// One `attr:: base64` line; safe for any value.
pub fn line(attr: &str, value: &str) -> String {
    format!("{attr}:: {}\n", b64_encode(value.as_bytes()))
}

/// `{SSHA}` of a password with a random salt.
pub fn ssha(password: &str) -> Result<String, String> {
    let salt_hex = crate::util::random_hex(8).map_err(|e| e.to_string())?;
    let salt: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&salt_hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut h = hmac_sha1_compact::Hash::new();
    h.update(password.as_bytes());
    h.update(&salt);
    let mut raw = h.finalize().to_vec();
    raw.extend(&salt);
    Ok(format!("{{SSHA}}{}", b64_encode(&raw)))
}

/// Parses unwrapped LDIF (`-o ldif-wrap=no`), with `::` base64 values.
fn parse_ldif(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut dn = None;
        let mut attrs = Vec::new();
        for l in block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (attr, value) = if let Some((a, v)) = l.split_once(":: ") {
                (
                    a,
                    b64_decode(v.trim())
                        .and_then(|b| String::from_utf8(b).ok())
                        .unwrap_or_default(),
                )
            } else if let Some((a, v)) = l.split_once(": ") {
                (a, v.to_string())
            } else {
                continue;
            };
            if attr.eq_ignore_ascii_case("dn") {
                dn = Some(value);
            } else {
                attrs.push((attr.to_string(), value));
            }
        }
        if let Some(dn) = dn {
            out.push(Entry { dn, attrs });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldif_parsing_and_lines() {
        let entries = parse_ldif("dn: uid=a,ou=People,dc=x\nuid: a\ncn:: QWxpY2UgQQ==\nmemberOf: g\n\ndn: uid=b,dc=x\nuid: b\n");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].first("cn"), Some("Alice A"));
        assert_eq!(entries[1].dn, "uid=b,dc=x");
        assert_eq!(line("cn", "x\ndn: evil"), "cn:: eApkbjogZXZpbA==\n");
        let h = ssha("s3cr3t").unwrap();
        assert!(h.starts_with("{SSHA}") && h.len() == 6 + 40);
    }
}
