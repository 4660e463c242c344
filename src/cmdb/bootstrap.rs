//! First start: the upstream defaults, written in one transaction when the
//! database has no cluster row yet.
//!
//! Upstream reads these from `bootstrap.ini`; luna2d ships them built in so that a
//! fresh `make run` needs no file, with the cluster network and the controller's
//! address taken from `[BOOTSTRAP]` (10.141.0.0/16 and 10.141.255.254 unless
//! set). The BMC password is random per installation: no known default
//! credential ships.

use rusqlite::{params, Connection};

use super::ipam::ipv4_num;

pub const CONTROLLER_NAME: &str = "controller";

/// The upstream default cluster network and its DHCP range.
const DEFAULT_CLUSTER: &str = "10.141.0.0/16";
const DEFAULT_RANGE: (&str, &str) = ("10.141.155.0", "10.141.165.0");

/// Upstream's default partition script: everything in RAM.
const PARTSCRIPT: &str = "mount -t tmpfs tmpfs /sysroot\n";
/// Upstream's default post script: an fstab that matches the tmpfs root.
const POSTSCRIPT: &str = "echo 'tmpfs / tmpfs defaults 0 0' >> /sysroot/etc/fstab\n";

/// `(name, cidr, type, dhcp range, comment)`; the cluster network comes first
/// and its CIDR from the settings.
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
        DEFAULT_CLUSTER,
        "ethernet",
        Some(DEFAULT_RANGE),
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

/// Where the first cluster network and the controller are.
pub struct Seed {
    pub cluster_network: ipnet::Ipv4Net,
    pub controller_ip: std::net::Ipv4Addr,
}

pub fn bootstrap_if_empty(
    db: &mut Connection,
    image_directory: &std::path::Path,
    seed: &Seed,
    sealer: &crate::secrets::Sealer,
) -> rusqlite::Result<bool> {
    let controller = seed.controller_ip.to_string();
    let controller = controller.as_str();
    let cluster_cidr = seed.cluster_network.to_string();
    let has_cluster: bool =
        db.query_row("SELECT EXISTS (SELECT 1 FROM cluster)", [], |r| r.get(0))?;
    if has_cluster {
        return Ok(false);
    }
    let bmc_password = crate::util::random_hex(8)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let bmc_password = sealer
        .seal(&bmc_password)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let tx = db.transaction()?;
    tx.execute(
        "INSERT INTO cluster (id, name, user, nameserver_ip, ntp_server, technical_contacts, provision_method,
                              provision_fallback, debug, security, packing_bootpause, createnode_ondemand,
                              createnode_macashost, nextnode_discover, bind_legacy, dnssec_enable, dnssec_validation)
         VALUES (1, 'mycluster', 'root', ?1, ?1, 'root@localhost', 'torrent', 'http', 0, 0, 1, 1, 0, 0, 0, 0, 0)",
        [controller],
    )?;
    for &(name, cidr, kind, range, comment) in NETWORKS {
        // A cluster network of the admin's choice has no DHCP range until one
        // is set; the default one keeps upstream's.
        let (cidr, range) = if name == "cluster" && cluster_cidr != DEFAULT_CLUSTER {
            (cluster_cidr.as_str(), None)
        } else {
            (cidr, range)
        };
        let net: ipnet::Ipv4Net = cidr
            .parse()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let gateway = net.contains(&seed.controller_ip).then_some(controller);
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
        params![controller, ipv4_num(controller), controller_id],
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
