//! The ISC dhcpd configuration: a subnet per DHCP-enabled network, and a host
//! per interface with a MAC address whose iPXE boot URL follows the spec's table:
//! netboot off → `/boot/disk`, boot menu on → `/boot`, else `/boot/short`;
//! machines without a host entry get `/boot` (the full menu).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{json, Value};

use super::{argv, Check, Daemon, Output};
use crate::cmdb::{node, Error, Store};

/// Errors are messages for the log and `/monitor/service/dhcp`.
pub fn generate(store: &Store, app: &dyn Daemon) -> Result<(Vec<Output>, Vec<Check>), String> {
    let cfg = store.config;
    let data = context(store, app.port()).map_err(|e| e.to_string())?;
    let content = app.templates().get().render("templ_dhcpd.cfg", data)?;
    let mut checks = Vec::new();
    let test = argv(&cfg.dhcp_test);
    if !test.is_empty() {
        let mut args = test;
        args.push("{}".into());
        checks.push(Check {
            argv: args,
            file: 0,
        });
    }
    Ok((
        vec![Output {
            path: cfg.dhcp_config.clone(),
            content,
        }],
        checks,
    ))
}

/// dhcpd host names: letters, digits and `-` only.
fn host_name(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn context(store: &Store, port: u16) -> Result<Value, Error> {
    let tx = store.tx;
    let (controller, controller_net): (String, String) = tx
        .query_row(
            "SELECT a.ipaddress, n.name FROM controller c JOIN ipaddress a ON a.controllerid = c.id
             JOIN network n ON n.id = a.networkid ORDER BY c.beacon DESC, c.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| Error::Internal(format!("the controller has no address: {e}")))?;
    let url = format!("{}://{}:{}", store.config.api_protocol, controller, port);
    let (nameservers, ntp): (Option<String>, Option<String>) = tx.query_row(
        "SELECT nameserver_ip, ntp_server FROM cluster WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;

    let mut subnets = Vec::new();
    let mut stmt = tx.prepare_cached(
        "SELECT name, network, gateway, nameserver_ip, dhcp_range_begin, dhcp_range_end FROM network
         WHERE dhcp = 1 ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    for row in rows {
        let (name, cidr, gateway, nameserver, begin, end) = row?;
        let Ok(net) = cidr.parse::<Ipv4Net>() else {
            continue;
        };
        subnets.push(json!({
            "name": name,
            "address": net.network().to_string(),
            "netmask": net.netmask().to_string(),
            "gateway": gateway.unwrap_or_default(),
            "nameserver": nameserver.unwrap_or_default(),
            "range": begin.is_some() && end.is_some(),
            "range_begin": begin.unwrap_or_default(),
            "range_end": end.unwrap_or_default(),
        }));
    }

    // Nodes, with the same inheritance the API shows, one at a time.
    let mut hosts = Vec::new();
    node::for_each_node(store, &mut |name, n| {
        let boot = match (
            n.get("netboot").and_then(Value::as_bool),
            n.get("bootmenu").and_then(Value::as_bool),
        ) {
            (Some(false), _) => "/boot/disk",
            (_, Some(true)) => "/boot",
            _ => "/boot/short",
        };
        for iface in n
            .get("interfaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(mac), Some(ip)) = (iface["macaddress"].as_str(), iface["ipaddress"].as_str())
            else {
                continue;
            };
            if ip.parse::<Ipv4Addr>().is_err() {
                continue;
            }
            let iface_name = iface["interface"].as_str().unwrap_or("if");
            hosts.push(json!({ "name": host_name(&[name, iface_name]), "mac": mac, "ip": ip, "boot": boot }));
        }
    })?;
    // Switches and other devices with a MAC get a plain reservation.
    let mut stmt = tx.prepare_cached(
        "SELECT s.name, s.macaddress, a.ipaddress FROM switch s JOIN ipaddress a ON a.switchid = s.id
         WHERE s.macaddress IS NOT NULL AND a.ipaddress IS NOT NULL
         UNION ALL
         SELECT o.name, o.macaddress, a.ipaddress FROM otherdevices o JOIN ipaddress a ON a.otherdevicesid = o.id
         WHERE o.macaddress IS NOT NULL AND a.ipaddress IS NOT NULL",
    )?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (name, mac, ip) = row?;
        hosts.push(json!({ "name": host_name(&[&name]), "mac": mac, "ip": ip, "boot": "" }));
    }
    Ok(json!({
        "domain": controller_net,
        "controller": controller,
        "url": url,
        "nameservers": nameservers.unwrap_or_else(|| controller.clone()).replace(',', ", "),
        "ntpservers": ntp.unwrap_or_default().replace(',', ", "),
        "subnets": subnets,
        "hosts": hosts,
    }))
}
