//! OS users and groups of the cluster, kept in an LDAP directory
//! (`src/ldap.rs`): `ou=People` holds posixAccounts, `ou=Group` posixGroups
//! whose `memberUid`s give users their `memberOf`. Without `[LDAP] URI` these
//! endpoints answer 503 saying so (`api::osuser`). Passwords are written hashed
//! and never read.

use serde_json::{json, Map, Value};

use super::Error;
use crate::ldap::{line, ssha, Directory, Entry};

fn ldap_error(e: String) -> Error {
    Error::Unavailable(format!("directory: {e}"))
}

/// POSIX user and group names.
pub fn check_name(kind: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && (name.as_bytes()[0].is_ascii_lowercase() || name.starts_with('_'))
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !ok {
        return Err(Error::invalid(format!(
            "invalid {kind} name '{name}': lower-case letters, digits, '_', '.', '-'"
        )));
    }
    Ok(())
}

fn people(d: &Directory) -> String {
    format!("ou=People,{}", d.base)
}

fn groups_ou(d: &Directory) -> String {
    format!("ou=Group,{}", d.base)
}

fn all_groups(d: &Directory) -> Result<Vec<Entry>, Error> {
    d.search(&groups_ou(d), "(objectClass=posixGroup)")
        .map_err(ldap_error)
}

fn all_users(d: &Directory) -> Result<Vec<Entry>, Error> {
    d.search(&people(d), "(objectClass=posixAccount)")
        .map_err(ldap_error)
}

const USER_TEXT: &[&str] = &[
    "cn",
    "sn",
    "givenName",
    "mail",
    "telephoneNumber",
    "loginShell",
    "homeDirectory",
];
const USER_INTS: &[&str] = &["uidNumber", "gidNumber", "shadowExpire"];

fn user_json(user: &Entry, groups: &[Entry]) -> Value {
    let mut obj = Map::new();
    for key in USER_INTS {
        if let Some(v) = user.first(key).and_then(|v| v.parse::<i64>().ok()) {
            obj.insert(key.to_string(), json!(v));
        }
    }
    for key in USER_TEXT {
        if let Some(v) = user.first(key) {
            obj.insert(key.to_string(), json!(v));
        }
    }
    let uid = user.first("uid").unwrap_or_default();
    let member_of: Vec<String> = groups
        .iter()
        .filter(|g| g.all("memberUid").iter().any(|m| m == uid))
        .filter_map(|g| g.first("cn").map(String::from))
        .collect();
    obj.insert("memberOf".into(), json!(member_of));
    Value::Object(obj)
}

fn group_json(group: &Entry) -> Value {
    json!({
        "gidNumber": group.first("gidNumber").and_then(|v| v.parse::<i64>().ok()),
        "member": group.all("memberUid"),
    })
}

/// Every OS user (or only `wanted`; NotFound when it does not exist), by uid.
pub fn users(d: &Directory, wanted: Option<&str>) -> Result<Map<String, Value>, Error> {
    let groups = all_groups(d)?;
    let mut out = Map::new();
    for user in all_users(d)? {
        let Some(uid) = user.first("uid") else {
            continue;
        };
        if wanted.is_some_and(|w| w != uid) {
            continue;
        }
        out.insert(uid.to_string(), user_json(&user, &groups));
    }
    if let Some(name) = wanted {
        if out.is_empty() {
            return Err(Error::not_found(format!("OS user '{name}' not found")));
        }
    }
    Ok(out)
}

/// Every OS group (or only `wanted`; NotFound when it does not exist), by cn.
pub fn groups(d: &Directory, wanted: Option<&str>) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for group in all_groups(d)? {
        let Some(cn) = group.first("cn") else {
            continue;
        };
        if wanted.is_some_and(|w| w != cn) {
            continue;
        }
        out.insert(cn.to_string(), group_json(&group));
    }
    if let Some(name) = wanted {
        if out.is_empty() {
            return Err(Error::not_found(format!("OS group '{name}' not found")));
        }
    }
    Ok(out)
}

fn next_number(entries: &[Entry], attr: &str) -> i64 {
    entries
        .iter()
        .filter_map(|e| e.first(attr)?.parse::<i64>().ok())
        .max()
        .map(|m| m + 1)
        .unwrap_or(1000)
        .max(1000)
}

fn int_value(key: &str, v: &Value) -> Result<i64, Error> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| Error::invalid(format!("{key} must be a whole number")))
}

fn text_value<'a>(key: &str, v: &'a Value) -> Result<&'a str, Error> {
    let s = v
        .as_str()
        .ok_or_else(|| Error::invalid(format!("{key} must be a string")))?;
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "invalid {key}: printable text expected"
        )));
    }
    if (key == "loginShell" || key == "homeDirectory") && !s.starts_with('/') {
        return Err(Error::invalid(format!(
            "{key} '{s}' must be an absolute path"
        )));
    }
    Ok(s)
}

fn name_list(key: &str, v: &Value) -> Result<Vec<String>, Error> {
    let items = v
        .as_array()
        .ok_or_else(|| Error::invalid(format!("{key} must be a list")))?;
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(String::from)
                .ok_or_else(|| Error::invalid(format!("{key} must list names")))
        })
        .collect()
}

/// Sets `memberUid` membership of `uid` to exactly `wanted` groups.
fn set_membership(
    d: &Directory,
    groups: &[Entry],
    uid: &str,
    wanted: &[String],
) -> Result<(), Error> {
    for name in wanted {
        if !groups.iter().any(|g| g.first("cn") == Some(name.as_str())) {
            return Err(Error::invalid(format!("OS group '{name}' does not exist")));
        }
    }
    for g in groups {
        let cn = g.first("cn").unwrap_or_default();
        let is_member = g.all("memberUid").iter().any(|m| m == uid);
        let should = wanted.iter().any(|w| w == cn);
        if is_member == should {
            continue;
        }
        let op = if should { "add" } else { "delete" };
        let ldif = format!(
            "dn: {}\nchangetype: modify\n{op}: memberUid\n{}-\n",
            g.dn,
            line("memberUid", uid)
        );
        d.apply("ldapmodify", &ldif).map_err(ldap_error)?;
    }
    Ok(())
}

/// Creates or changes OS user `name` from `obj` (as posted); true when created.
pub fn update_user(d: &Directory, name: &str, obj: &Map<String, Value>) -> Result<bool, Error> {
    check_name("user", name)?;
    let allowed: Vec<&str> = USER_TEXT
        .iter()
        .chain(USER_INTS)
        .copied()
        .chain(["userPassword", "memberOf", "name"])
        .collect();
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::invalid(format!("unknown field '{k}' for osuser")));
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    for (k, v) in obj {
        match k.as_str() {
            "memberOf" | "name" => {}
            "userPassword" => {
                attrs.push((k.clone(), ssha(text_value(k, v)?).map_err(Error::Internal)?))
            }
            k if USER_INTS.contains(&k) => {
                attrs.push((k.to_string(), int_value(k, v)?.to_string()))
            }
            k => attrs.push((k.to_string(), text_value(k, v)?.to_string())),
        }
    }
    let member_of = obj
        .get("memberOf")
        .map(|v| name_list("memberOf", v))
        .transpose()?;
    let users = all_users(d)?;
    let groups = all_groups(d)?;
    if let Some(wanted) = &member_of {
        for g in wanted {
            if !groups.iter().any(|e| e.first("cn") == Some(g.as_str())) {
                return Err(Error::invalid(format!("OS group '{g}' does not exist")));
            }
        }
    }
    let dn = format!("uid={name},{}", people(d));
    let exists = users.iter().any(|u| u.first("uid") == Some(name));
    if exists {
        let mut ldif = format!("dn: {dn}\nchangetype: modify\n");
        for (k, v) in &attrs {
            ldif.push_str(&format!("replace: {k}\n{}-\n", line(k, v)));
        }
        if !attrs.is_empty() {
            d.apply("ldapmodify", &ldif).map_err(ldap_error)?;
        }
    } else {
        let defaults = [
            ("cn", name.to_string()),
            ("sn", name.to_string()),
            ("uidNumber", next_number(&users, "uidNumber").to_string()),
            ("gidNumber", "100".to_string()),
            ("homeDirectory", format!("/home/{name}")),
            ("loginShell", "/bin/bash".to_string()),
        ];
        for (k, v) in defaults {
            if !attrs.iter().any(|(a, _)| a == k) {
                attrs.push((k.to_string(), v));
            }
        }
        let mut ldif = format!("dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: shadowAccount\n");
        ldif.push_str(&line("uid", name));
        for (k, v) in &attrs {
            ldif.push_str(&line(k, v));
        }
        d.apply("ldapadd", &ldif).map_err(ldap_error)?;
    }
    if let Some(wanted) = member_of {
        set_membership(d, &groups, name, &wanted)?;
    }
    Ok(!exists)
}

/// Creates or changes OS group `name` from `obj` (as posted); true when created.
pub fn update_group(d: &Directory, name: &str, obj: &Map<String, Value>) -> Result<bool, Error> {
    check_name("group", name)?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["gidNumber", "member", "name"].contains(&k.as_str()))
    {
        return Err(Error::invalid(format!("unknown field '{k}' for osgroup")));
    }
    let gid = obj
        .get("gidNumber")
        .map(|v| int_value("gidNumber", v))
        .transpose()?;
    let members = obj
        .get("member")
        .map(|v| name_list("member", v))
        .transpose()?;
    let users = all_users(d)?;
    for m in members.iter().flatten() {
        if !users.iter().any(|u| u.first("uid") == Some(m.as_str())) {
            return Err(Error::invalid(format!("OS user '{m}' does not exist")));
        }
    }
    let groups = all_groups(d)?;
    let dn = format!("cn={name},{}", groups_ou(d));
    let exists = groups.iter().any(|g| g.first("cn") == Some(name));
    if exists {
        let mut ldif = format!("dn: {dn}\nchangetype: modify\n");
        if let Some(gid) = gid {
            ldif.push_str(&format!(
                "replace: gidNumber\n{}-\n",
                line("gidNumber", &gid.to_string())
            ));
        }
        if let Some(members) = &members {
            ldif.push_str("replace: memberUid\n");
            for m in members {
                ldif.push_str(&line("memberUid", m));
            }
            ldif.push_str("-\n");
        }
        if gid.is_some() || members.is_some() {
            d.apply("ldapmodify", &ldif).map_err(ldap_error)?;
        }
        return Ok(false);
    }
    let gid = gid.unwrap_or_else(|| next_number(&groups, "gidNumber"));
    let mut ldif = format!("dn: {dn}\nobjectClass: posixGroup\n");
    ldif.push_str(&line("cn", name));
    ldif.push_str(&line("gidNumber", &gid.to_string()));
    for m in members.iter().flatten() {
        ldif.push_str(&line("memberUid", m));
    }
    d.apply("ldapadd", &ldif).map_err(ldap_error)?;
    Ok(true)
}

/// Deletes OS user `name` and its group memberships.
pub fn delete_user(d: &Directory, name: &str) -> Result<(), Error> {
    check_name("user", name)?;
    if !all_users(d)?.iter().any(|u| u.first("uid") == Some(name)) {
        return Err(Error::not_found(format!("OS user '{name}' not found")));
    }
    set_membership(d, &all_groups(d)?, name, &[])?;
    d.delete(&format!("uid={name},{}", people(d)))
        .map_err(ldap_error)?;
    Ok(())
}

/// Deletes OS group `name`.
pub fn delete_group(d: &Directory, name: &str) -> Result<(), Error> {
    check_name("group", name)?;
    if !all_groups(d)?.iter().any(|g| g.first("cn") == Some(name)) {
        return Err(Error::not_found(format!("OS group '{name}' not found")));
    }
    d.delete(&format!("cn={name},{}", groups_ou(d)))
        .map_err(ldap_error)?;
    Ok(())
}
