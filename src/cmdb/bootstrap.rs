//! First start: the upstream defaults, written in one transaction when the
//! database has no cluster row yet.
//!
//! Upstream reads these from `bootstrap.ini`; luna2d ships them built in so that a
//! fresh `make run` needs no file. The BMC password is random per installation:
//! no known default credential ships.

use rusqlite::{params, Connection};

use super::ipam::ipv4_num;

pub const CONTROLLER_NAME: &str = "controller";
pub const CONTROLLER_IP: &str = "10.141.255.254";

/// Upstream's default partition script: everything in RAM.
const PARTSCRIPT: &str = "mount -t tmpfs tmpfs /sysroot\n";
/// Upstream's default post script: an fstab that matches the tmpfs root.
const POSTSCRIPT: &str = "echo 'tmpfs / tmpfs defaults 0 0' >> /sysroot/etc/fstab\n";

/// `(name, cidr, type, dhcp range, comment)`
type NetworkSeed = (
    &'static str,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static str,
);
const NETWORKS: &[NetworkSeed] = &[
    (
        "cluster",
        "10.141.0.0/16",
        "ethernet",
        Some(("10.141.155.0", "10.141.165.0")),
        "Default cluster network",
    ),
    (
        "ipmi",
        "10.148.0.0/16",
        "ethernet",
        None,
        "Default OOB network",
    ),
    (
        "ib",
        "10.149.0.0/16",
        "infiniband",
        None,
        "Default high-speed interconnect network",
    ),
];

pub fn bootstrap_if_empty(
    db: &mut Connection,
    image_directory: &std::path::Path,
) -> rusqlite::Result<bool> {
    let has_cluster: bool =
        db.query_row("SELECT EXISTS (SELECT 1 FROM cluster)", [], |r| r.get(0))?;
    if has_cluster {
        return Ok(false);
    }
    let bmc_password = crate::util::random_hex(8)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let tx = db.transaction()?;
    tx.execute(
        "INSERT INTO cluster (id, name, user, nameserver_ip, ntp_server, technical_contacts, provision_method,
                              provision_fallback, debug, security, packing_bootpause, createnode_ondemand,
                              createnode_macashost, nextnode_discover, bind_legacy, dnssec_enable, dnssec_validation)
         VALUES (1, 'mycluster', 'root', ?1, ?1, 'root@localhost', 'torrent', 'http', 0, 0, 1, 1, 0, 0, 0, 0, 0)",
        [CONTROLLER_IP],
    )?;
    for (name, cidr, kind, range, comment) in NETWORKS {
        let net: ipnet::Ipv4Net = cidr
            .parse()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let controller_inside = CONTROLLER_IP
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| net.contains(&ip));
        let gateway = controller_inside.then_some(CONTROLLER_IP);
        tx.execute(
            "INSERT INTO network (name, network, type, gateway, gateway_metric, nameserver_ip, ntp_server, dhcp,
                                  dhcp_range_begin, dhcp_range_end, dhcp_nodes_in_pool, zone, comment)
             VALUES (?1, ?2, ?3, ?4, 101, ?4, ?4, ?5, ?6, ?7, 0, 'internal', ?8)",
            params![name, cidr, kind, gateway, range.is_some() as i64, range.map(|r| r.0), range.map(|r| r.1), comment],
        )?;
    }
    tx.execute(
        "INSERT INTO controller (name, beacon, shadow, status, serverport) VALUES (?1, 1, 0, 'master', 7050)",
        [CONTROLLER_NAME],
    )?;
    let controller_id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO ipaddress (networkid, ipaddress, ipnum, controllerid)
         SELECT id, ?1, ?2, ?3 FROM network WHERE name = 'cluster'",
        params![CONTROLLER_IP, ipv4_num(CONTROLLER_IP), controller_id],
    )?;
    let image_path = image_directory.join("compute");
    tx.execute(
        "INSERT INTO osimage (name, path, kerneloptions, kernelmodules, distribution, grab_filesystems, grab_exclude)
         VALUES ('compute', ?1, 'net.ifnames=0 biosdevname=0', 'ipmi_devintf, ipmi_si, ipmi_msghandler', 'redhat',
                 '/, /boot, /var', '/proc/*, /sys/*, /dev/*, /tmp/*, /var/log/*, /var/cache/*')",
        [image_path.to_string_lossy()],
    )?;
    tx.execute(
        "INSERT INTO bmcsetup (name, userid, username, password, netchannel, mgmtchannel)
         VALUES ('compute', 2, 'admin', ?1, 1, 1)",
        [bmc_password],
    )?;
    tx.execute(
        "INSERT INTO \"group\" (name, domain, osimageid, bmcsetupid, setupbmc, netboot, bootmenu, ipxe_kernel,
                                prescript, partscript, postscript, comment)
         VALUES ('compute', 'cluster', (SELECT id FROM osimage WHERE name = 'compute'),
                 (SELECT id FROM bmcsetup WHERE name = 'compute'), 1, 1, 0, 'default', NULL, ?1, ?2, 'Default group')",
        params![crate::util::b64_encode(PARTSCRIPT.as_bytes()), crate::util::b64_encode(POSTSCRIPT.as_bytes())],
    )?;
    tx.execute(
        "INSERT INTO groupinterface (groupid, interface, networkid)
         SELECT g.id, 'BOOTIF', n.id FROM \"group\" g, network n WHERE g.name = 'compute' AND n.name = 'cluster'",
        [],
    )?;
    tx.execute(
        "INSERT INTO groupinterface (groupid, interface, networkid)
         SELECT g.id, 'BMC', n.id FROM \"group\" g, network n WHERE g.name = 'compute' AND n.name = 'ipmi'",
        [],
    )?;
    tx.commit()?;
    log::info!("bootstrapped a new cluster database");
    Ok(true)
}
