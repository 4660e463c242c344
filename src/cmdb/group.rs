//! Groups: the shared resource shape, plus interfaces carried to member nodes
//! and values inherited from the cluster, OS image and BMC setup.

use rusqlite::types::Value as Sql;
use rusqlite::OptionalExtension;
use serde_json::{Map, Value};

use super::inherit::{merge, Fallback, Rule};
use super::interface::{apply_group_entries, group_interfaces_json};
use super::ipam::Allocator;
use super::json::Objects;
use super::resource::{fetch_rows, field, row_json, Columns, Field, Hooks, Kind, Resource};
use super::{cluster, Error, Store};

pub static GROUP: Resource = Resource {
    kind: "group",
    table: "group",
    label: "Group",
    rename: &["newgroupname"],
    fields: FIELDS,
    extra: &["interfaces", "bmcsetup", "osimagetag"],
    member: Some("SELECT name FROM node WHERE groupid = ?1 ORDER BY name"),
    users: Some("SELECT name FROM node WHERE groupid = ?1 ORDER BY name LIMIT 11"),
    hooks: &GroupHooks,
};

pub const PROVISION_METHODS: &[&str] = &["torrent", "http"];
pub const UNMANAGED_BMC_USERS: &[&str] = &["skip", "disable", "delete"];

/// The provisioning fields groups and nodes both have (nodes inherit them
/// from their group), placed between a resource's own fields.
macro_rules! with_provisioning_fields {
    ($($before:expr,)*; $($after:expr,)*) => {
        &[
            $($before,)*
            field("setupbmc", Kind::Bool),
            field("netboot", Kind::Bool),
            field("bootmenu", Kind::Bool),
            field("kerneloptions", Kind::Text),
            field("ipxe_kernel", Kind::Choice(&["default", "alternative"])),
            field("roles", Kind::Text),
            field("scripts", Kind::Text),
            field("prescript", Kind::Script),
            field("partscript", Kind::Script),
            field("postscript", Kind::Script),
            field("provision_interface", Kind::Text),
            field("provision_method", Kind::Choice($crate::cmdb::group::PROVISION_METHODS)),
            field("provision_fallback", Kind::Choice($crate::cmdb::group::PROVISION_METHODS)),
            field("unmanaged_bmc_users", Kind::Choice($crate::cmdb::group::UNMANAGED_BMC_USERS)),
            $($after,)*
        ]
    };
}
pub(crate) use with_provisioning_fields;

static FIELDS: &[Field] = with_provisioning_fields!(
    field("domain", Kind::Text),
    field(
        "osimage",
        Kind::Ref {
            table: "osimage",
            column: "osimageid",
        },
    ),
    field(
        "bmcsetupname",
        Kind::Ref {
            table: "bmcsetup",
            column: "bmcsetupid",
        },
    ),
    ;
    field("comment", Kind::Text),
);

/// The inheritable provisioning values, stated once: for each, where a group
/// looks when it sets nothing itself, and the fallback. A node looks at its
/// group first, then the same places (`node_rule!`). Each rule list below
/// names its fields in the order its objects show them.
macro_rules! provisioning {
    ($rule:ident, setupbmc) => {
        $rule!(setupbmc, [], Fallback::Bool(false))
    };
    ($rule:ident, netboot) => {
        $rule!(netboot, [], Fallback::Bool(true))
    };
    ($rule:ident, bootmenu) => {
        $rule!(bootmenu, [], Fallback::Bool(false))
    };
    ($rule:ident, kerneloptions) => {
        $rule!(
            kerneloptions,
            [("osimage", "kerneloptions")],
            Fallback::Null
        )
    };
    ($rule:ident, ipxe_kernel) => {
        $rule!(ipxe_kernel, [], Fallback::Str("default"))
    };
    ($rule:ident, provision_interface) => {
        $rule!(provision_interface, [], Fallback::Str("BOOTIF"))
    };
    ($rule:ident, provision_method) => {
        $rule!(
            provision_method,
            [("cluster", "provision_method")],
            Fallback::Str("torrent")
        )
    };
    ($rule:ident, provision_fallback) => {
        $rule!(
            provision_fallback,
            [("cluster", "provision_fallback")],
            Fallback::Str("http")
        )
    };
    ($rule:ident, unmanaged_bmc_users) => {
        $rule!(
            unmanaged_bmc_users,
            [("bmcsetup", "unmanaged_bmc_users")],
            Fallback::Null
        )
    };
    ($rule:ident, prescript) => {
        $rule!(prescript, [], Fallback::Str(""))
    };
    ($rule:ident, partscript) => {
        $rule!(partscript, [], Fallback::Str(""))
    };
    ($rule:ident, postscript) => {
        $rule!(postscript, [], Fallback::Str(""))
    };
    ($rule:ident, osimagetag) => {
        $rule!(osimagetag, [], Fallback::Str("default"))
    };
}
pub(crate) use provisioning;

/// A group's rule for a provisioning value.
macro_rules! group_rule {
    ($field:ident, [$($from:expr),*], $default:expr) => {
        Rule { field: stringify!($field), from: &[$($from),*], default: $default }
    };
}

/// A node's rule for a provisioning value: its group first, then where the
/// group looks.
macro_rules! node_rule {
    ($field:ident, [$($from:expr),*], $default:expr) => {
        Rule {
            field: stringify!($field),
            from: &[("group", stringify!($field)) $(, $from)*],
            default: $default,
        }
    };
}
pub(crate) use node_rule;

/// What a group inherits when it sets nothing itself.
pub static RULES: &[Rule] = &[
    provisioning!(group_rule, setupbmc),
    provisioning!(group_rule, netboot),
    provisioning!(group_rule, bootmenu),
    provisioning!(group_rule, kerneloptions),
    provisioning!(group_rule, ipxe_kernel),
    provisioning!(group_rule, provision_interface),
    provisioning!(group_rule, provision_method),
    provisioning!(group_rule, provision_fallback),
    provisioning!(group_rule, unmanaged_bmc_users),
    provisioning!(group_rule, prescript),
    provisioning!(group_rule, partscript),
    provisioning!(group_rule, postscript),
    provisioning!(group_rule, osimagetag),
];

struct GroupHooks;

fn find_field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

impl Hooks for GroupHooks {
    fn before_write(
        &self,
        store: &Store,
        _name: &str,
        id: Option<i64>,
        obj: &Map<String, Value>,
        cols: &mut Columns,
    ) -> Result<(), Error> {
        // The spec's group examples say `bmcsetup: true` for `setupbmc`.
        if let (Some(v), Some(f)) = (obj.get("bmcsetup"), find_field("setupbmc")) {
            if !obj.contains_key("setupbmc") {
                cols.push((f, super::resource::to_sql(store.tx, f, v)?));
            }
        }
        if id.is_none() {
            super::resource::set_defaults(
                FIELDS,
                cols,
                [
                    ("netboot", Sql::Integer(1)),
                    ("bootmenu", Sql::Integer(0)),
                    ("setupbmc", Sql::Integer(0)),
                    ("ipxe_kernel", Sql::Text("default".into())),
                    ("domain", Sql::Text("cluster".into())),
                ],
            );
        }
        Ok(())
    }

    fn after_write(
        &self,
        store: &Store,
        id: i64,
        obj: &Map<String, Value>,
        created: bool,
    ) -> Result<(), Error> {
        set_osimagetag(store, "group", id, obj)?;
        let mut alloc = Allocator::default();
        match obj.get("interfaces") {
            Some(entries) => apply_group_entries(store.tx, &mut alloc, id, entries)?,
            None if created => {
                // A new group boots from the controller's network unless told otherwise.
                let net: Option<String> = store
                    .tx
                    .query_row(
                        "SELECT n.name FROM controller c JOIN ipaddress a ON a.controllerid = c.id
                         JOIN network n ON n.id = a.networkid ORDER BY c.beacon DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(net) = net {
                    let entries = serde_json::json!([{ "interface": "BOOTIF", "network": net }]);
                    apply_group_entries(store.tx, &mut alloc, id, &entries)?;
                }
            }
            None => {}
        }
        Ok(())
    }

    fn after_clone(
        &self,
        store: &Store,
        src: i64,
        dst: i64,
        obj: &Map<String, Value>,
    ) -> Result<(), Error> {
        store.tx.execute(
            "INSERT INTO groupinterface (groupid, interface, networkid, mtu, vlanid, vlan_parent, bond_mode, bond_slaves, dhcp, options)
             SELECT ?2, interface, networkid, mtu, vlanid, vlan_parent, bond_mode, bond_slaves, dhcp, options
             FROM groupinterface WHERE groupid = ?1",
            [src, dst],
        )?;
        self.after_write(store, dst, obj, false)
    }

    fn render(
        &self,
        store: &Store,
        res: &Resource,
        id: Option<i64>,
        out: &mut Objects,
    ) -> Result<(), Error> {
        for (name, obj) in render_map(store, res, id)? {
            if let Value::Object(obj) = obj {
                out.push(&name, &obj);
            }
        }
        Ok(())
    }
}

/// Groups as JSON objects, with inherited values and their sources.
pub fn render_map(
    store: &Store,
    res: &Resource,
    id: Option<i64>,
) -> Result<Map<String, Value>, Error> {
    {
        let layers = Layers::load(store)?;
        let mut ifaces = group_interfaces_json(store.tx, id)?;
        let mut out = Map::new();
        for row in fetch_rows(store.tx, res, id)? {
            let mut obj = row_json(res, &row);
            obj.insert(
                "osimagetag".into(),
                layers.tag_name(store, "group", row.id)?,
            );
            let osimage = obj
                .get("osimage")
                .and_then(Value::as_str)
                .and_then(|n| layers.osimage.get(n));
            let bmcsetup = obj
                .get("bmcsetupname")
                .and_then(Value::as_str)
                .and_then(|n| layers.bmcsetup.get(n));
            merge(
                &mut obj,
                "group",
                RULES,
                &[
                    ("cluster", Some(&layers.cluster)),
                    ("osimage", osimage),
                    ("bmcsetup", bmcsetup),
                ],
            );
            obj.insert(
                "interfaces".into(),
                Value::Array(ifaces.remove(&row.id).unwrap_or_default()),
            );
            out.insert(row.name.clone(), Value::Object(obj));
        }
        Ok(out)
    }
}

/// The objects groups and nodes inherit from, loaded once per request.
pub struct Layers {
    pub cluster: Map<String, Value>,
    pub osimage: std::collections::HashMap<String, Map<String, Value>>,
    pub bmcsetup: std::collections::HashMap<String, Map<String, Value>>,
}

impl Layers {
    pub fn load(store: &Store) -> Result<Layers, Error> {
        let cluster = cluster::inheritable(store.tx)?;
        let mut osimage = std::collections::HashMap::new();
        let mut stmt = store
            .tx
            .prepare_cached("SELECT name, kerneloptions FROM osimage")?;
        for row in stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })? {
            let (name, k) = row?;
            let mut m = Map::new();
            m.insert(
                "kerneloptions".into(),
                k.map(Value::String).unwrap_or(Value::Null),
            );
            osimage.insert(name, m);
        }
        let mut bmcsetup = std::collections::HashMap::new();
        let mut stmt = store
            .tx
            .prepare_cached("SELECT name, unmanaged_bmc_users FROM bmcsetup")?;
        for row in stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })? {
            let (name, u) = row?;
            let mut m = Map::new();
            m.insert(
                "unmanaged_bmc_users".into(),
                u.map(Value::String).unwrap_or(Value::Null),
            );
            bmcsetup.insert(name, m);
        }
        Ok(Layers {
            cluster,
            osimage,
            bmcsetup,
        })
    }

    /// The OS image tag name set on a group or node row, or null.
    pub fn tag_name(&self, store: &Store, table: &str, id: i64) -> Result<Value, Error> {
        let name: Option<String> = store
            .tx
            .prepare_cached(&format!(
                "SELECT t.name FROM \"{table}\" o JOIN osimagetag t ON t.id = o.osimagetagid WHERE o.id = ?1"
            ))?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(name.map(Value::String).unwrap_or(Value::Null))
    }
}

/// Sets `osimagetag` on a group or node: a tag of its (effective) OS image, or
/// `default`/null for none.
pub fn set_osimagetag(
    store: &Store,
    table: &str,
    id: i64,
    obj: &Map<String, Value>,
) -> Result<(), Error> {
    let Some(v) = obj.get("osimagetag") else {
        // A new OS image makes the old image's tag meaningless.
        if obj.contains_key("osimage") {
            store.tx.execute(
                &format!("UPDATE \"{table}\" SET osimagetagid = NULL WHERE id = ?1"),
                [id],
            )?;
        }
        return Ok(());
    };
    let tag = v.as_str().filter(|s| !s.is_empty() && *s != "default");
    let tag_id: Option<i64> = match tag {
        None => None,
        Some(tag) => {
            let sql = if table == "node" {
                "SELECT t.id FROM node n JOIN \"group\" g ON g.id = n.groupid
                 JOIN osimagetag t ON t.osimageid = COALESCE(n.osimageid, g.osimageid) WHERE n.id = ?1 AND t.name = ?2"
            } else {
                "SELECT t.id FROM \"group\" g JOIN osimagetag t ON t.osimageid = g.osimageid WHERE g.id = ?1 AND t.name = ?2"
            };
            let found: Option<i64> = store
                .tx
                .query_row(sql, rusqlite::params![id, tag], |r| r.get(0))
                .optional()?;
            Some(found.ok_or_else(|| {
                Error::invalid(format!(
                    "osimagetag '{tag}' is not a tag of this {table}'s osimage"
                ))
            })?)
        }
    };
    store.tx.execute(
        &format!("UPDATE \"{table}\" SET osimagetagid = ?2 WHERE id = ?1"),
        rusqlite::params![id, tag_id],
    )?;
    Ok(())
}
