//! Nodes: the shared resource shape, plus interfaces with automatic addresses,
//! group membership and values inherited from group, cluster, OS image and BMC
//! setup. List and show render through the same function.

use rusqlite::types::Value as Sql;
use serde_json::{Map, Value};

use std::collections::HashMap;

use super::group::{
    self, node_rule, provisioning, set_osimagetag, with_provisioning_fields, Layers,
};
use super::inherit::{resolve, Fallback, Rule};
use super::interface::{apply_node_entries, clone_node_ifaces, node_interfaces_select, regroup};
use super::ipam::Allocator;
use super::json::{Fields, Objects};
use super::resource::{
    fetch_select, field, to_json, Columns, Field, Hooks, Kind, Resource, Row, Select,
};
use super::{Error, Store};

pub static NODE: Resource = Resource {
    kind: "node",
    table: "node",
    label: "Node",
    rename: &["newhostname", "newnodename"],
    fields: FIELDS,
    extra: &["interfaces", "osimagetag", "hostname", "tpm_present"],
    member: None,
    users: None,
    hooks: &NodeHooks,
};

static FIELDS: &[Field] = with_provisioning_fields!(
    field(
        "group",
        Kind::Ref {
            table: "group",
            column: "groupid",
        },
    ),
    field(
        "osimage",
        Kind::Ref {
            table: "osimage",
            column: "osimageid",
        },
    ),
    field(
        "bmcsetup",
        Kind::Ref {
            table: "bmcsetup",
            column: "bmcsetupid",
        },
    ),
    field(
        "switch",
        Kind::Ref {
            table: "switch",
            column: "switchid",
        },
    ),
    field("switchport", Kind::Text),
    field(
        "cloud",
        Kind::Ref {
            table: "cloud",
            column: "cloudid",
        },
    ),
    field("service", Kind::Bool),
    ;
    field("status", Kind::Text),
    field("vendor", Kind::Text),
    field("assettag", Kind::Text),
    field("position", Kind::Text),
    field("comment", Kind::Text),
    field("tpm_uuid", Kind::Text),
    field("tpm_pubkey", Kind::Text),
    field("tpm_sha256", Kind::Text),
);

/// What a node inherits when it sets nothing itself, and from where: the
/// provisioning values through its group (`group::provisioning!`), and the
/// image, BMC setup, roles and scripts its group names.
static RULES: &[Rule] = &[
    Rule {
        field: "osimage",
        from: &[("group", "osimage")],
        default: Fallback::Null,
    },
    provisioning!(node_rule, osimagetag),
    Rule {
        field: "bmcsetup",
        from: &[("group", "bmcsetupname")],
        default: Fallback::Null,
    },
    provisioning!(node_rule, setupbmc),
    provisioning!(node_rule, netboot),
    provisioning!(node_rule, bootmenu),
    Rule {
        field: "roles",
        from: &[("group", "roles")],
        default: Fallback::Null,
    },
    Rule {
        field: "scripts",
        from: &[("group", "scripts")],
        default: Fallback::Null,
    },
    provisioning!(node_rule, kerneloptions),
    provisioning!(node_rule, ipxe_kernel),
    provisioning!(node_rule, provision_interface),
    provisioning!(node_rule, provision_method),
    provisioning!(node_rule, provision_fallback),
    provisioning!(node_rule, unmanaged_bmc_users),
    provisioning!(node_rule, prescript),
    provisioning!(node_rule, partscript),
    provisioning!(node_rule, postscript),
];

struct NodeHooks;

fn group_of(cols: &Columns) -> Option<&Sql> {
    cols.iter().find(|(f, _)| f.name == "group").map(|(_, v)| v)
}

impl Hooks for NodeHooks {
    fn before_write(
        &self,
        store: &Store,
        _name: &str,
        id: Option<i64>,
        _obj: &Map<String, Value>,
        cols: &mut Columns,
    ) -> Result<(), Error> {
        match (id, group_of(cols)) {
            (None, None | Some(Sql::Null)) => {
                Err(Error::invalid("group is required for a new node"))
            }
            (None, _) => {
                super::resource::set_defaults(FIELDS, cols, [("service", Sql::Integer(0))]);
                Ok(())
            }
            (Some(_), Some(Sql::Null)) => Err(Error::invalid(
                "group cannot be cleared: every node belongs to a group",
            )),
            (Some(id), Some(Sql::Integer(new))) => {
                let old: i64 =
                    store
                        .tx
                        .query_row("SELECT groupid FROM node WHERE id = ?1", [id], |r| r.get(0))?;
                if old != *new {
                    regroup(store.tx, &mut Allocator::default(), id, Some(old), *new)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn after_write(
        &self,
        store: &Store,
        id: i64,
        obj: &Map<String, Value>,
        created: bool,
    ) -> Result<(), Error> {
        let mut alloc = Allocator::default();
        if created {
            let group: i64 =
                store
                    .tx
                    .query_row("SELECT groupid FROM node WHERE id = ?1", [id], |r| r.get(0))?;
            regroup(store.tx, &mut alloc, id, None, group)?;
        }
        if let Some(entries) = obj.get("interfaces") {
            apply_node_entries(store.tx, &mut alloc, id, entries)?;
        }
        set_osimagetag(store, "node", id, obj)
    }

    fn after_clone(
        &self,
        store: &Store,
        src: i64,
        dst: i64,
        obj: &Map<String, Value>,
    ) -> Result<(), Error> {
        store
            .tx
            .execute("UPDATE node SET status = NULL WHERE id = ?1", [dst])?;
        let mut alloc = Allocator::default();
        clone_node_ifaces(store.tx, &mut alloc, src, dst)?;
        if let Some(entries) = obj.get("interfaces") {
            apply_node_entries(store.tx, &mut alloc, dst, entries)?;
        }
        set_osimagetag(store, "node", dst, obj)
    }

    fn render(
        &self,
        store: &Store,
        res: &Resource,
        id: Option<i64>,
        out: &mut Objects,
    ) -> Result<(), Error> {
        render_nodes(store, res, id, &mut |name, write| {
            out.push_with(name, |w| write(w))
        })
    }
}

/// Nodes read per page when rendering them all.
const NODES_PAGE: i64 = 500;

/// A node's JSON fields, written by the renderer when called.
type WriteNode<'a> = dyn FnMut(&mut dyn Fields) + 'a;

/// Renders one node or all of them, handing each (name, writer) to `sink`.
fn render_nodes(
    store: &Store,
    res: &Resource,
    id: Option<i64>,
    sink: &mut dyn FnMut(&str, &mut WriteNode),
) -> Result<(), Error> {
    // One node needs only its own group.
    let group_id: Option<i64> = match id {
        Some(id) => Some(
            store
                .tx
                .prepare_cached("SELECT groupid FROM node WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?,
        ),
        None => None,
    };
    let groups = group::render_map(store, &group::GROUP, group_id)?;
    let view = View::new(res, Layers::load(store)?, &groups);
    let tags = tag_names(store, id)?;
    // All nodes are read a page at a time, so that memory stays flat however
    // large the cluster.
    let mut after = String::new();
    loop {
        let select = match id {
            Some(id) => Select::One(id),
            None => Select::After(&after, NODES_PAGE),
        };
        let rows = fetch_select(store.tx, res, select)?;
        let mut ifaces = node_interfaces_select(store.tx, select)?;
        for row in &rows {
            let mut interfaces = Some(ifaces.remove(&row.id).unwrap_or_default());
            sink(&row.name, &mut |w| {
                view.write(
                    w,
                    row,
                    interfaces.take().unwrap_or_default(),
                    tags.get(&row.id),
                )
            });
        }
        match rows.last() {
            Some(last) if id.is_none() && rows.len() as i64 == NODES_PAGE => {
                after = last.name.clone()
            }
            _ => return Ok(()),
        }
    }
}

/// Calls `f` with every node as the API shows it, one at a time, so that a
/// pass over thousands of nodes never holds them all in memory as values.
pub fn for_each_node(
    store: &Store,
    f: &mut dyn FnMut(&str, &Map<String, Value>),
) -> Result<(), Error> {
    render_nodes(store, &NODE, None, &mut |name, write| {
        let mut obj = Map::new();
        write(&mut obj);
        f(name, &obj);
    })
}

/// What a group passes down: its own values, not those it inherited itself
/// (a node looks past the group to the cluster, OS image or BMC setup on its own).
fn group_own_values(group: &Value) -> Map<String, Value> {
    let Some(g) = group.as_object() else {
        return Map::new();
    };
    g.iter()
        .filter(|(k, _)| {
            let src = g.get(&format!("_{k}_source")).and_then(Value::as_str);
            src.is_none() || src == Some("group")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn tag_names(store: &Store, id: Option<i64>) -> Result<HashMap<i64, String>, Error> {
    let filter = if id.is_some() { "AND n.id = ?1" } else { "" };
    let mut stmt = store.tx.prepare_cached(&format!(
        "SELECT n.id, t.name FROM node n JOIN osimagetag t ON t.id = n.osimagetagid WHERE 1 {filter}"
    ))?;
    let map = |r: &rusqlite::Row| Ok((r.get(0)?, r.get(1)?));
    let rows = match id {
        Some(id) => stmt.query_map([id], map)?.collect::<Result<_, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<_, _>>()?,
    };
    Ok(rows)
}

/// Everything needed to write nodes, computed once per request: the layers
/// nodes inherit from and where each rule's own value sits in a row.
struct View<'a> {
    res: &'a Resource,
    layers: Layers,
    groups: &'a Map<String, Value>,
    /// Per group: the values it passes down.
    inherited: HashMap<&'a str, Map<String, Value>>,
    /// Per rule: the index of the node field holding the node's own value.
    rule_field: Vec<Option<usize>>,
    /// Per field: written by the rule loop rather than as a plain column.
    is_rule: Vec<bool>,
    group_idx: Option<usize>,
    osimage_idx: Option<usize>,
    bmcsetup_idx: Option<usize>,
    tpm_idx: Option<usize>,
}

impl<'a> View<'a> {
    fn new(res: &'a Resource, layers: Layers, groups: &'a Map<String, Value>) -> View<'a> {
        let idx = |name: &str| res.fields.iter().position(|f| f.name == name);
        View {
            res,
            layers,
            groups,
            inherited: groups
                .iter()
                .map(|(name, g)| (name.as_str(), group_own_values(g)))
                .collect(),
            rule_field: RULES.iter().map(|r| idx(r.field)).collect(),
            is_rule: res
                .fields
                .iter()
                .map(|f| RULES.iter().any(|r| r.field == f.name))
                .collect(),
            group_idx: idx("group"),
            osimage_idx: idx("osimage"),
            bmcsetup_idx: idx("bmcsetup"),
            tpm_idx: idx("tpm_sha256"),
        }
    }

    fn text<'r>(&self, row: &'r Row, idx: Option<usize>) -> Option<&'r str> {
        match idx.map(|i| &row.values[i]) {
            Some(Sql::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// Writes one node: its columns, inherited values with their sources, and
    /// interfaces. Same shape for list and show.
    fn write(&self, w: &mut dyn Fields, row: &Row, interfaces: Vec<Value>, tag: Option<&String>) {
        w.field_str("name", &row.name);
        w.field_str("hostname", &row.name);
        for ((f, v), is_rule) in self.res.fields.iter().zip(&row.values).zip(&self.is_rule) {
            if !is_rule {
                w.field_sql(f.name, f.kind, v);
            }
        }
        let group_name = self.text(row, self.group_idx);
        let group = group_name.and_then(|g| self.groups.get(g));
        let group_own = group_name.and_then(|g| self.inherited.get(g));
        let from_group = |key: &str| group.and_then(|g| g.get(key)).and_then(Value::as_str);
        let osimage = self
            .text(row, self.osimage_idx)
            .or_else(|| from_group("osimage"))
            .and_then(|n| self.layers.osimage.get(n));
        let bmcsetup = self
            .text(row, self.bmcsetup_idx)
            .or_else(|| from_group("bmcsetupname"))
            .and_then(|n| self.layers.bmcsetup.get(n));
        let sources = [
            ("group", group_own),
            ("cluster", Some(&self.layers.cluster)),
            ("osimage", osimage),
            ("bmcsetup", bmcsetup),
        ];
        let mut overridden = false;
        for (rule, field_idx) in RULES.iter().zip(&self.rule_field) {
            let own = match field_idx {
                Some(i) => to_json(self.res.fields[*i].kind, &row.values[*i]),
                None => tag.map(|t| Value::String(t.clone())).unwrap_or(Value::Null),
            };
            let (value, source) = resolve(rule, &own, "node", &sources);
            overridden |= source == "node";
            w.field(rule.field, &value);
            w.field_parts(&["_", rule.field, "_source"], &Value::String(source.into()));
        }
        w.field("_override", &Value::Bool(overridden));
        w.field(
            "tpm_present",
            &Value::Bool(self.text(row, self.tpm_idx).is_some()),
        );
        w.field("interfaces", &Value::Array(interfaces));
    }
}

/// One node as the API shows it, for callers that need its resolved values
/// (boot scripts, install templates).
pub fn render_node(store: &Store, id: i64) -> Result<Map<String, Value>, Error> {
    let mut found = None;
    render_nodes(store, &NODE, Some(id), &mut |_, write| {
        let mut obj = Map::new();
        write(&mut obj);
        found = Some(obj);
    })?;
    found.ok_or_else(|| Error::not_found("node not found"))
}
