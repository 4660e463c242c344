//! What a node's boot reads: the controller's address, the image files of an
//! OS image (or of its tag), a network's prefix and gateway, BMC credentials,
//! the addresses allowed to fetch a node's install script, the boot menu.

use rusqlite::{params, OptionalExtension, Transaction};

use super::Error;

/// The controller's address as nodes see it: the beacon controller's IP.
pub fn controller_ip(tx: &Transaction) -> Result<String, Error> {
    let ip: Option<String> = tx
        .prepare_cached(
            "SELECT a.ipaddress FROM controller c JOIN ipaddress a ON a.controllerid = c.id
             ORDER BY c.beacon DESC, c.id LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    ip.ok_or_else(|| Error::Internal("the controller has no IP address".into()))
}

/// The OS image files a node boots: the tag's when one is set.
pub struct Image {
    pub kernelfile: Option<String>,
    pub initrdfile: Option<String>,
    pub imagefile: Option<String>,
    pub distribution: Option<String>,
    pub osrelease: Option<String>,
}

pub fn image(tx: &Transaction, osimage: &str, tag: &str) -> Result<Option<Image>, Error> {
    Ok(tx
        .prepare_cached(
            "SELECT COALESCE(t.kernelfile, o.kernelfile), COALESCE(t.initrdfile, o.initrdfile),
                    COALESCE(t.imagefile, o.imagefile), o.distribution, o.osrelease
             FROM osimage o LEFT JOIN osimagetag t ON t.osimageid = o.id AND t.name = ?2 WHERE o.name = ?1",
        )?
        .query_row(params![osimage, tag], |r| {
            Ok(Image {
                kernelfile: r.get(0)?,
                initrdfile: r.get(1)?,
                imagefile: r.get(2)?,
                distribution: r.get(3)?,
                osrelease: r.get(4)?,
            })
        })
        .optional()?)
}

/// A network's prefix length and gateway, by name.
pub fn network_facts(tx: &Transaction, name: &str) -> Result<(u8, Option<String>), Error> {
    let (cidr, gateway): (String, Option<String>) = tx
        .prepare_cached("SELECT network, gateway FROM network WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let prefix = cidr
        .parse::<ipnet::IpNet>()
        .map(|n| n.prefix_len())
        .unwrap_or(0);
    Ok((prefix, gateway))
}

/// `(userid, username, password, netchannel, mgmtchannel)` of a BMC setup.
pub type BmcCredentials = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// A BMC setup's credentials and channels, by setup name.
pub fn bmc_credentials(tx: &Transaction, setup: &str) -> Result<Option<BmcCredentials>, Error> {
    Ok(tx
        .prepare_cached("SELECT userid, username, password, netchannel, mgmtchannel FROM bmcsetup WHERE name = ?1")?
        .query_row([setup], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?)
}

/// The boot menu's entries: nodes without a MAC yet, groups with an OS image.
pub fn menu_entries(tx: &Transaction) -> Result<(Vec<String>, Vec<String>), Error> {
    let nodes: Vec<String> = tx
        .prepare_cached(
            "SELECT n.name FROM node n WHERE NOT EXISTS
               (SELECT 1 FROM nodeinterface ni WHERE ni.nodeid = n.id AND ni.macaddress IS NOT NULL)
             ORDER BY n.name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let groups: Vec<String> = tx
        .prepare_cached("SELECT name FROM \"group\" WHERE osimageid IS NOT NULL ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((nodes, groups))
}

/// The addresses that may fetch node `node`'s install script: its own and
/// every controller's.
pub fn install_origins(tx: &Transaction, node: i64) -> Result<Vec<String>, Error> {
    let allowed: Vec<String> = tx
        .prepare_cached(
            "SELECT a.ipaddress FROM ipaddress a JOIN nodeinterface ni ON ni.id = a.nodeinterfaceid
             WHERE ni.nodeid = ?1 AND a.ipaddress IS NOT NULL
             UNION SELECT ipaddress FROM ipaddress WHERE controllerid IS NOT NULL AND ipaddress IS NOT NULL",
        )?
        .query_map([node], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(allowed)
}

/// The node whose interface has `mac`.
pub fn node_with_mac(tx: &Transaction, mac: &str) -> Result<Option<i64>, Error> {
    Ok(tx
        .prepare_cached("SELECT nodeid FROM nodeinterface WHERE macaddress = ?1")?
        .query_row([mac], |r| r.get(0))
        .optional()?)
}
