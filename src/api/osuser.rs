//! OS users and groups of the cluster, kept in an LDAP directory
//! (`src/ldap.rs`): `ou=People` holds posixAccounts, `ou=Group` posixGroups
//! whose `memberUid`s give users their `memberOf`. Without `[LDAP] URI` these
//! endpoints answer 503 saying so. Passwords are written hashed and never read.

use serde_json::{json, Map, Value};

use super::{ApiError, Ctx, Reply};
use crate::ldap::{line, ssha, Directory, Entry};

fn directory<'a>(ctx: &'a Ctx) -> Result<&'a Directory, ApiError> {
    ctx.app.ldap.as_ref().ok_or_else(|| {
        ApiError::Unavailable("no directory is configured for OS users: set [LDAP] URI".into())
    })
}

fn ldap_error(e: String) -> ApiError {
    ApiError::Unavailable(format!("directory: {e}"))
}

/// POSIX user and group names.
fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && (name.as_bytes()[0].is_ascii_lowercase() || name.starts_with('_'))
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !ok {
        return Err(ApiError::bad(format!(
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

fn all_groups(d: &Directory) -> Result<Vec<Entry>, ApiError> {
    d.search(&groups_ou(d), "(objectClass=posixGroup)")
        .map_err(ldap_error)
}

fn all_users(d: &Directory) -> Result<Vec<Entry>, ApiError> {
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

/// `GET /config/osuser`, `GET /config/osuser/{name}`
pub fn users(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let d = directory(ctx)?;
    let groups = all_groups(d)?;
    let wanted = ctx.params.first().cloned();
    let mut out = Map::new();
    for user in all_users(d)? {
        let Some(uid) = user.first("uid") else {
            continue;
        };
        if wanted.as_deref().is_some_and(|w| w != uid) {
            continue;
        }
        out.insert(uid.to_string(), user_json(&user, &groups));
    }
    if let Some(name) = wanted {
        if out.is_empty() {
            return Err(ApiError::not_found(format!("OS user '{name}' not found")));
        }
    }
    Reply::ok(json!({ "config": { "osuser": out } }))
}

/// `GET /config/osgroup`, `GET /config/osgroup/{name}`
pub fn groups(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let d = directory(ctx)?;
    let wanted = ctx.params.first().cloned();
    let mut out = Map::new();
    for group in all_groups(d)? {
        let Some(cn) = group.first("cn") else {
            continue;
        };
        if wanted.as_deref().is_some_and(|w| w != cn) {
            continue;
        }
        out.insert(cn.to_string(), group_json(&group));
    }
    if let Some(name) = wanted {
        if out.is_empty() {
            return Err(ApiError::not_found(format!("OS group '{name}' not found")));
        }
    }
    Reply::ok(json!({ "config": { "osgroup": out } }))
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

fn int_value(key: &str, v: &Value) -> Result<i64, ApiError> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| ApiError::bad(format!("{key} must be a whole number")))
}

fn text_value<'a>(key: &str, v: &'a Value) -> Result<&'a str, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::bad(format!("{key} must be a string")))?;
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(ApiError::bad(format!(
            "invalid {key}: printable text expected"
        )));
    }
    if (key == "loginShell" || key == "homeDirectory") && !s.starts_with('/') {
        return Err(ApiError::bad(format!(
            "{key} '{s}' must be an absolute path"
        )));
    }
    Ok(s)
}

fn name_list(key: &str, v: &Value) -> Result<Vec<String>, ApiError> {
    let items = v
        .as_array()
        .ok_or_else(|| ApiError::bad(format!("{key} must be a list")))?;
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(String::from)
                .ok_or_else(|| ApiError::bad(format!("{key} must list names")))
        })
        .collect()
}

/// Sets `memberUid` membership of `uid` to exactly `wanted` groups.
fn set_membership(
    d: &Directory,
    groups: &[Entry],
    uid: &str,
    wanted: &[String],
) -> Result<(), ApiError> {
    for name in wanted {
        if !groups.iter().any(|g| g.first("cn") == Some(name.as_str())) {
            return Err(ApiError::bad(format!("OS group '{name}' does not exist")));
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

/// `POST /config/osuser/{name}`
pub fn update_user(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    check_name("user", &name)?;
    let obj = ctx.config_object("osuser", &name)?.clone();
    let d = directory(ctx)?;
    let allowed: Vec<&str> = USER_TEXT
        .iter()
        .chain(USER_INTS)
        .copied()
        .chain(["userPassword", "memberOf", "name"])
        .collect();
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("unknown field '{k}' for osuser")));
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    for (k, v) in &obj {
        match k.as_str() {
            "memberOf" | "name" => {}
            "userPassword" => attrs.push((
                k.clone(),
                ssha(text_value(k, v)?).map_err(ApiError::Internal)?,
            )),
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
                return Err(ApiError::bad(format!("OS group '{g}' does not exist")));
            }
        }
    }
    let dn = format!("uid={name},{}", people(d));
    let exists = users.iter().any(|u| u.first("uid") == Some(name.as_str()));
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
            ("cn", name.clone()),
            ("sn", name.clone()),
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
        ldif.push_str(&line("uid", &name));
        for (k, v) in &attrs {
            ldif.push_str(&line(k, v));
        }
        d.apply("ldapadd", &ldif).map_err(ldap_error)?;
    }
    if let Some(wanted) = member_of {
        set_membership(d, &groups, &name, &wanted)?;
    }
    if exists {
        Reply::updated()
    } else {
        Reply::created(format!("OS user {name} created"))
    }
}

/// `POST /config/osgroup/{name}`
pub fn update_group(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    check_name("group", &name)?;
    let obj = ctx.config_object("osgroup", &name)?.clone();
    let d = directory(ctx)?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["gidNumber", "member", "name"].contains(&k.as_str()))
    {
        return Err(ApiError::bad(format!("unknown field '{k}' for osgroup")));
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
            return Err(ApiError::bad(format!("OS user '{m}' does not exist")));
        }
    }
    let groups = all_groups(d)?;
    let dn = format!("cn={name},{}", groups_ou(d));
    let exists = groups.iter().any(|g| g.first("cn") == Some(name.as_str()));
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
        return Reply::updated();
    }
    let gid = gid.unwrap_or_else(|| next_number(&groups, "gidNumber"));
    let mut ldif = format!("dn: {dn}\nobjectClass: posixGroup\n");
    ldif.push_str(&line("cn", &name));
    ldif.push_str(&line("gidNumber", &gid.to_string()));
    for m in members.iter().flatten() {
        ldif.push_str(&line("memberUid", m));
    }
    d.apply("ldapadd", &ldif).map_err(ldap_error)?;
    Reply::created(format!("OS group {name} created"))
}

/// `GET /config/osuser/{name}/_delete`
pub fn delete_user(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    check_name("user", &name)?;
    let d = directory(ctx)?;
    if !all_users(d)?
        .iter()
        .any(|u| u.first("uid") == Some(name.as_str()))
    {
        return Err(ApiError::not_found(format!("OS user '{name}' not found")));
    }
    set_membership(d, &all_groups(d)?, &name, &[])?;
    d.delete(&format!("uid={name},{}", people(d)))
        .map_err(ldap_error)?;
    Reply::updated()
}

/// `GET /config/osgroup/{name}/_delete`
pub fn delete_group(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    check_name("group", &name)?;
    let d = directory(ctx)?;
    if !all_groups(d)?
        .iter()
        .any(|g| g.first("cn") == Some(name.as_str()))
    {
        return Err(ApiError::not_found(format!("OS group '{name}' not found")));
    }
    d.delete(&format!("cn={name},{}", groups_ou(d)))
        .map_err(ldap_error)?;
    Reply::updated()
}
