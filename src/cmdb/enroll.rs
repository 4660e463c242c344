//! Enrolling a machine that boots: its MAC moves to a node's provisioning
//! interface, and a group hands out its first node without one, or a new node.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::json;

use super::interface::{apply_node_entries, regroup};
use super::ipam::Allocator;
use super::resource::lookup_id;
use super::value::Mac;
use super::Error;

/// Gives `mac` to the first node of the group without a MAC on its
/// provisioning interface, creating the group's next node when there is none.
/// Returns that node.
pub fn claim_in_group(
    tx: &Transaction,
    group_id: i64,
    group: &str,
    mac: &Mac,
) -> Result<i64, Error> {
    tx.execute(
        "UPDATE nodeinterface SET macaddress = NULL WHERE macaddress = ?1",
        [mac.as_str()],
    )?;
    let free: Option<i64> = tx
        .prepare_cached(&format!(
            "SELECT n.id FROM node n JOIN \"group\" g ON g.id = n.groupid WHERE n.groupid = ?1 AND NOT EXISTS
               (SELECT 1 FROM nodeinterface ni WHERE ni.nodeid = n.id AND ni.interface = {PROVISION_INTERFACE}
                AND ni.macaddress IS NOT NULL)
             ORDER BY n.name LIMIT 1"
        ))?
        .query_row([group_id], |r| r.get(0))
        .optional()?;
    let id = match free {
        Some(id) => id,
        None => create_node(tx, group_id, group)?,
    };
    assign_mac(tx, id, mac)?;
    Ok(id)
}

/// The SQL for a node's provisioning interface (node `n`, group `g`): the node's
/// own, else its group's, else `BOOTIF`, as `node.rs` RULES resolve it.
const PROVISION_INTERFACE: &str =
    "COALESCE(n.provision_interface, g.provision_interface, 'BOOTIF')";

/// Moves `mac` to node `node`'s provisioning interface.
pub fn assign_mac(tx: &Transaction, node: i64, mac: &Mac) -> Result<(), Error> {
    tx.execute(
        "UPDATE nodeinterface SET macaddress = NULL WHERE macaddress = ?1",
        [mac.as_str()],
    )?;
    let iface: String = tx.query_row(
        &format!("SELECT {PROVISION_INTERFACE} FROM node n JOIN \"group\" g ON g.id = n.groupid WHERE n.id = ?1"),
        [node],
        |r| r.get(0),
    )?;
    apply_node_entries(
        tx,
        &mut Allocator::default(),
        node,
        &json!([{ "interface": iface, "macaddress": mac.as_str() }]),
    )
}

/// Creates the next node of a group: the highest numbered name plus one, with
/// the same zero padding (`node009` → `node010`), or `<group>001`.
fn create_node(tx: &Transaction, group_id: i64, group: &str) -> Result<i64, Error> {
    let names: Vec<String> = tx
        .prepare_cached("SELECT name FROM node WHERE groupid = ?1")?
        .query_map([group_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let (prefix, next, width) = names
        .iter()
        .filter_map(|n| {
            let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let num: u64 = n[n.len() - digits..].parse().ok()?;
            Some((n[..n.len() - digits].to_string(), num, digits))
        })
        .max_by_key(|(_, num, _)| *num)
        .map(|(p, num, w)| (p, num + 1, w))
        .unwrap_or_else(|| (group.to_string(), 1, 3));
    for num in next..next + NAME_ATTEMPTS_MAX {
        let name = format!("{prefix}{num:0width$}");
        if lookup_id(tx, "node", &name)?.is_none() {
            tx.execute(
                "INSERT INTO node (name, groupid, service) VALUES (?1, ?2, 0)",
                params![name, group_id],
            )?;
            let id = tx.last_insert_rowid();
            regroup(tx, &mut Allocator::default(), id, None, group_id)?;
            log::info!("boot: created node {name} in group {group}");
            return Ok(id);
        }
    }
    Err(Error::invalid(format!(
        "no free node name after {prefix}{next}"
    )))
}

const NAME_ATTEMPTS_MAX: u64 = 1000;
