//! Value inheritance: a node's unset values come from its group, then from the
//! cluster, OS image or BMC setup, then a default; a group's from the cluster,
//! OS image or BMC setup. One merge function, driven by rule lists in the node
//! and group modules, records where each value came from in `_<field>_source`
//! and sets `_override` when the object sets an inheritable value itself.
//!
//! Unlike upstream, "unset" means SQL NULL, not a falsy value: a node can set
//! `netboot: false` under a group with `netboot: true`.

use serde_json::{Map, Value};

/// One inheritable field: the key in the object, where to look after the object
/// itself (layer name and the key in that layer), and the fallback.
pub struct Rule {
    pub field: &'static str,
    pub from: &'static [(&'static str, &'static str)],
    pub default: Fallback,
}

#[derive(Clone, Copy)]
pub enum Fallback {
    Null,
    Bool(bool),
    Str(&'static str),
}

impl Fallback {
    fn value(self) -> Value {
        match self {
            Fallback::Null => Value::Null,
            Fallback::Bool(b) => Value::Bool(b),
            Fallback::Str(s) => Value::String(s.into()),
        }
    }
}

/// Resolves every rule into `obj`. `own` names the object's own layer
/// (`node`, `group`); `layers` are the named layers it may inherit from.
pub fn merge(
    obj: &mut Map<String, Value>,
    own: &'static str,
    rules: &[Rule],
    layers: &[(&str, Option<&Map<String, Value>>)],
) {
    let mut overridden = false;
    for rule in rules {
        let own_value = obj.get(rule.field).cloned().unwrap_or(Value::Null);
        let (value, source) = resolve(rule, &own_value, own, layers);
        // Overriding means setting what would otherwise be inherited.
        overridden |= source == own && !rule.from.is_empty();
        obj.insert(rule.field.to_string(), value);
        obj.insert(
            format!("_{}_source", rule.field),
            Value::String(source.to_string()),
        );
    }
    obj.insert("_override".into(), Value::Bool(overridden));
}

/// One rule: the object's own value when set, else the first layer that has
/// one, else the default; with the name of where it came from.
pub fn resolve(
    rule: &Rule,
    own_value: &Value,
    own: &'static str,
    layers: &[(&str, Option<&Map<String, Value>>)],
) -> (Value, &'static str) {
    if !own_value.is_null() {
        return (own_value.clone(), own);
    }
    rule.from
        .iter()
        .find_map(|(layer, key)| {
            let (name, map) = layers.iter().find(|(n, _)| n == layer)?;
            let v = map.as_ref()?.get(*key).filter(|v| !v.is_null())?;
            Some((v.clone(), source_name(name)))
        })
        .unwrap_or((rule.default.value(), "default"))
}

fn source_name(layer: &str) -> &'static str {
    match layer {
        "group" => "group",
        "cluster" => "cluster",
        "osimage" => "osimage",
        "bmcsetup" => "bmcsetup",
        _ => "default",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &[Rule] = &[
        Rule {
            field: "netboot",
            from: &[("group", "netboot")],
            default: Fallback::Bool(false),
        },
        Rule {
            field: "provision_method",
            from: &[
                ("group", "provision_method"),
                ("cluster", "provision_method"),
            ],
            default: Fallback::Str("torrent"),
        },
        Rule {
            field: "bmcsetup",
            from: &[("group", "bmcsetupname")],
            default: Fallback::Null,
        },
        Rule {
            field: "roles",
            from: &[("group", "roles")],
            default: Fallback::Null,
        },
    ];

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn node_false_overrides_group_true() {
        let mut node = map(json!({"netboot": false}));
        let group = map(json!({"netboot": true, "bmcsetupname": "dell"}));
        let cluster = map(json!({"provision_method": "http"}));
        merge(
            &mut node,
            "node",
            RULES,
            &[("group", Some(&group)), ("cluster", Some(&cluster))],
        );
        assert_eq!(node["netboot"], json!(false));
        assert_eq!(node["_netboot_source"], json!("node"));
        assert_eq!(node["provision_method"], json!("http"));
        assert_eq!(node["_provision_method_source"], json!("cluster"));
        assert_eq!(node["bmcsetup"], json!("dell"));
        assert_eq!(node["_bmcsetup_source"], json!("group"));
        assert_eq!(node["roles"], Value::Null);
        assert_eq!(node["_roles_source"], json!("default"));
        assert_eq!(node["_override"], json!(true));
    }

    #[test]
    fn nothing_set_means_no_override() {
        let mut node = map(json!({"netboot": null}));
        merge(&mut node, "node", RULES, &[("group", None)]);
        assert_eq!(node["netboot"], json!(false));
        assert_eq!(node["_netboot_source"], json!("default"));
        assert_eq!(node["provision_method"], json!("torrent"));
        assert_eq!(node["_override"], json!(false));
    }
}
