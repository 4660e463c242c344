//! Every route of the REST API, in one table.
//!
//! A pattern is matched segment by segment after percent-decoding; `{}` segments
//! are captured in order into `Ctx::params`. A trailing `/` is ignored. The first
//! route that matches wins, so literal segments (`_member`) come before captures.
//! `write` routes run in a `BEGIN IMMEDIATE` transaction.

use std::sync::OnceLock;

use super::auth::Auth::{self, Install, Node, Open, Token};
use super::resource::Verb;
use super::{
    boot, cluster, control, dns, files, ha, interface, monitor, network, osimage, osuser, plugins,
    rack, secrets, service, system, tables, tpm, tracker, transfer, ApiError, Ctx, Reply,
};
use crate::cmdb::resource::Resource;
use crate::http::Method::{self, Get, Post};
use crate::http::{Incoming, Lane, Outgoing};

pub type HandlerFn = fn(&mut Ctx) -> Result<Reply, ApiError>;

pub enum Handler {
    Fn(HandlerFn),
    /// A verb of the shared name-keyed resource shape (`resource.rs`).
    Res(&'static Resource, Verb),
    /// Runs requests of its own within one transaction it manages (a
    /// master's journal batch): it gets the worker, not a context.
    Batch(BatchFn),
}

pub type BatchFn = fn(&mut super::Worker, Option<serde_json::Value>) -> Result<Outgoing, ApiError>;

pub struct Route {
    pub method: Method,
    pub pattern: &'static str,
    pub auth: Auth,
    pub write: bool,
    /// A successful request changes what the DHCP and DNS configs contain.
    pub regen: bool,
    pub handler: Handler,
}

const fn f(method: Method, pattern: &'static str, auth: Auth, write: bool, h: HandlerFn) -> Route {
    Route {
        method,
        pattern,
        auth,
        write,
        regen: false,
        handler: Handler::Fn(h),
    }
}

/// A write route whose success changes the DHCP and DNS configs.
const fn c(method: Method, pattern: &'static str, auth: Auth, h: HandlerFn) -> Route {
    Route {
        method,
        pattern,
        auth,
        write: true,
        regen: true,
        handler: Handler::Fn(h),
    }
}

const fn r(
    method: Method,
    pattern: &'static str,
    auth: Auth,
    res: &'static Resource,
    verb: Verb,
) -> Route {
    let write = matches!(verb, Verb::Post | Verb::Clone | Verb::Delete);
    Route {
        method,
        pattern,
        auth,
        write,
        regen: write,
        handler: Handler::Res(res, verb),
    }
}

const R: bool = false; // read-only transaction
const W: bool = true; // write transaction

#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    // API usage, version, liveness
    f(Post, "/token",                                     Open,  R, super::auth::token),
    f(Get,  "/version",                                   Open,  R, system::version),
    f(Get,  "/ping",                                      Open,  R, system::ping),

    // Cluster
    f(Get,  "/config/cluster",                            Token, R, cluster::show),
    c(Post, "/config/cluster",                            Token,    cluster::update),
    f(Get,  "/config/cluster/export",                     Token, R, transfer::export),
    c(Post, "/config/cluster/import",                     Token,    transfer::import),

    // Networks; member, next free IP and IP status are IPAM queries.
    r(Get,  "/config/network",                            Token, &crate::cmdb::network::NETWORK, Verb::List),
    f(Get,  "/config/network/{}/_member",                 Open,  R, network::members),
    f(Get,  "/config/network/{}/_nextfreeip",             Open,  R, network::next_free_ip),
    r(Get,  "/config/network/{}/_delete",                 Token, &crate::cmdb::network::NETWORK, Verb::Delete),
    r(Get,  "/config/network/{}",                         Token, &crate::cmdb::network::NETWORK, Verb::Show),
    f(Get,  "/config/network/{}/{}",                      Token, R, network::ip_status),
    r(Post, "/config/network/{}",                         Token, &crate::cmdb::network::NETWORK, Verb::Post),

    // Groups
    r(Get,  "/config/group",                              Token, &crate::cmdb::group::GROUP, Verb::List),
    r(Get,  "/config/group/{}/_member",                   Token, &crate::cmdb::group::GROUP, Verb::Member),
    r(Get,  "/config/group/{}/_delete",                   Token, &crate::cmdb::group::GROUP, Verb::Delete),
    r(Post, "/config/group/{}/_clone",                    Token, &crate::cmdb::group::GROUP, Verb::Clone),
    f(Get,  "/config/group/{}/interfaces",                Token, R, interface::group_list),
    c(Post, "/config/group/{}/interfaces",                Token,    interface::group_update),
    f(Get,  "/config/group/{}/interfaces/{}",             Token, R, interface::group_show),
    c(Get,  "/config/group/{}/interfaces/{}/_delete",     Token,    interface::group_delete),
    f(Post, "/config/group/{}/_ospush",                   Token, W, osimage::push_group),
    r(Get,  "/config/group/{}",                           Token, &crate::cmdb::group::GROUP, Verb::Show),
    r(Post, "/config/group/{}",                           Token, &crate::cmdb::group::GROUP, Verb::Post),

    // Nodes
    r(Get,  "/config/node",                               Token, &crate::cmdb::node::NODE, Verb::List),
    r(Get,  "/config/node/{}/_delete",                    Token, &crate::cmdb::node::NODE, Verb::Delete),
    r(Post, "/config/node/{}/_clone",                     Token, &crate::cmdb::node::NODE, Verb::Clone),
    f(Get,  "/config/node/{}/interfaces",                 Token, R, interface::node_list),
    c(Post, "/config/node/{}/interfaces",                 Token,    interface::node_update),
    f(Get,  "/config/node/{}/interfaces/{}",              Token, R, interface::node_show),
    c(Get,  "/config/node/{}/interfaces/{}/_delete",      Token,    interface::node_delete),
    f(Post, "/config/node/{}/_ospush",                    Token, W, osimage::push_node),
    f(Post, "/config/node/{}/_osgrab",                    Token, W, osimage::grab),
    r(Get,  "/config/node/{}",                            Token, &crate::cmdb::node::NODE, Verb::Show),
    // A node's provisioning token may update that node (the installer reports
    // vendor, asset tag and a DHCP-assigned address).
    r(Post, "/config/node/{}",                            Node,  &crate::cmdb::node::NODE, Verb::Post),

    // OS images and tags; pack, kernel, clone, grab and push are jobs.
    r(Get,  "/config/osimage",                            Token, &crate::cmdb::osimage::OSIMAGE, Verb::List),
    r(Get,  "/config/osimage/{}/_member",                 Token, &crate::cmdb::osimage::OSIMAGE, Verb::Member),
    r(Get,  "/config/osimage/{}/_delete",                 Token, &crate::cmdb::osimage::OSIMAGE, Verb::Delete),
    f(Post, "/config/osimage/{}/_clone",                  Token, W, osimage::clone),
    f(Get,  "/config/osimage/{}/_pack",                   Token, W, osimage::pack),
    f(Post, "/config/osimage/{}/kernel",                  Token, W, osimage::kernel),
    f(Post, "/config/osimage/{}/tag",                     Token, W, osimage::tag),
    f(Get,  "/config/osimage/{}/osimagetag/{}/_delete",   Token, W, osimage::delete_tag),
    r(Get,  "/config/osimage/{}",                         Token, &crate::cmdb::osimage::OSIMAGE, Verb::Show),
    r(Post, "/config/osimage/{}",                         Token, &crate::cmdb::osimage::OSIMAGE, Verb::Post),
    f(Get,  "/config/osimagetag",                         Token, R, osimage::tags),
    f(Get,  "/config/osimagetag/{}/_member",              Token, R, osimage::tag_members),
    f(Get,  "/config/osimagetag/{}",                      Token, R, osimage::image_tags),

    // Secrets; a node's provisioning token may read its own.
    f(Get,  "/config/secrets",                            Token, R, secrets::list_all),
    f(Post, "/config/secrets",                            Token, R, secrets::unsupported),
    f(Get,  "/config/secrets/node/{}",                    Node,  R, secrets::node_all),
    f(Post, "/config/secrets/node/{}",                    Token, W, secrets::bulk),
    f(Get,  "/config/secrets/node/{}/{}/_delete",         Token, W, secrets::delete),
    f(Post, "/config/secrets/node/{}/{}/_clone",          Token, W, secrets::clone),
    f(Get,  "/config/secrets/node/{}/{}",                 Token, R, secrets::show),
    f(Post, "/config/secrets/node/{}/{}",                 Token, W, secrets::update),
    f(Get,  "/config/secrets/group/{}",                   Token, R, secrets::group_all),
    f(Post, "/config/secrets/group/{}",                   Token, W, secrets::bulk),
    f(Get,  "/config/secrets/group/{}/{}/_delete",        Token, W, secrets::delete),
    f(Post, "/config/secrets/group/{}/{}/_clone",         Token, W, secrets::clone),
    f(Get,  "/config/secrets/group/{}/{}",                Token, R, secrets::show),
    f(Post, "/config/secrets/group/{}/{}",                Token, W, secrets::update),

    // Racks and the inventory of rack-mountable devices
    f(Get,  "/config/rack/inventory",                     Token, R, rack::list_inventory),
    f(Post, "/config/rack/inventory",                     Token, W, rack::update_inventory),
    f(Get,  "/config/rack/inventory/{}",                  Token, R, rack::list_inventory),
    f(Get,  "/config/rack/inventory/{}/type/{}/_delete",  Token, W, rack::clear_inventory),
    r(Get,  "/config/rack",                               Token, &crate::cmdb::rack::RACK, Verb::List),
    r(Get,  "/config/rack/{}/_delete",                    Token, &crate::cmdb::rack::RACK, Verb::Delete),
    r(Get,  "/config/rack/{}",                            Token, &crate::cmdb::rack::RACK, Verb::Show),
    r(Post, "/config/rack/{}",                            Token, &crate::cmdb::rack::RACK, Verb::Post),

    // OS users and groups, in the LDAP directory
    f(Get,  "/config/osuser",                             Token, R, osuser::users),
    f(Get,  "/config/osuser/{}/_delete",                  Token, R, osuser::delete_user),
    f(Get,  "/config/osuser/{}",                          Token, R, osuser::users),
    f(Post, "/config/osuser/{}",                          Token, R, osuser::update_user),
    f(Get,  "/config/osgroup",                            Token, R, osuser::groups),
    f(Get,  "/config/osgroup/{}/_delete",                 Token, R, osuser::delete_group),
    f(Get,  "/config/osgroup/{}",                         Token, R, osuser::groups),
    f(Post, "/config/osgroup/{}",                         Token, R, osuser::update_group),

    // Raw tables, for HA peers
    f(Get,  "/table/hashes",                              Token, R, tables::hashes),
    f(Get,  "/table/data/{}",                             Token, R, tables::data),

    // BMC setups
    r(Get,  "/config/bmcsetup",                           Token, &crate::cmdb::bmcsetup::BMCSETUP, Verb::List),
    r(Get,  "/config/bmcsetup/{}/_member",                Token, &crate::cmdb::bmcsetup::BMCSETUP, Verb::Member),
    r(Get,  "/config/bmcsetup/{}/_delete",                Token, &crate::cmdb::bmcsetup::BMCSETUP, Verb::Delete),
    r(Post, "/config/bmcsetup/{}/_clone",                 Token, &crate::cmdb::bmcsetup::BMCSETUP, Verb::Clone),
    r(Get,  "/config/bmcsetup/{}",                        Token, &crate::cmdb::bmcsetup::BMCSETUP, Verb::Show),
    r(Post, "/config/bmcsetup/{}",                        Token, &crate::cmdb::bmcsetup::BMCSETUP, Verb::Post),

    // Switches and other devices
    r(Get,  "/config/switch",                             Token, &crate::cmdb::device::SWITCH, Verb::List),
    r(Get,  "/config/switch/{}/_member",                  Token, &crate::cmdb::device::SWITCH, Verb::Member),
    r(Get,  "/config/switch/{}/_delete",                  Token, &crate::cmdb::device::SWITCH, Verb::Delete),
    r(Post, "/config/switch/{}/_clone",                   Token, &crate::cmdb::device::SWITCH, Verb::Clone),
    r(Get,  "/config/switch/{}",                          Token, &crate::cmdb::device::SWITCH, Verb::Show),
    r(Post, "/config/switch/{}",                          Token, &crate::cmdb::device::SWITCH, Verb::Post),
    r(Get,  "/config/otherdev",                           Token, &crate::cmdb::device::OTHERDEV, Verb::List),
    r(Get,  "/config/otherdev/{}/_delete",                Token, &crate::cmdb::device::OTHERDEV, Verb::Delete),
    r(Post, "/config/otherdev/{}/_clone",                 Token, &crate::cmdb::device::OTHERDEV, Verb::Clone),
    r(Get,  "/config/otherdev/{}",                        Token, &crate::cmdb::device::OTHERDEV, Verb::Show),
    r(Post, "/config/otherdev/{}",                        Token, &crate::cmdb::device::OTHERDEV, Verb::Post),

    // Clouds
    r(Get,  "/config/cloud",                              Token, &crate::cmdb::cloud::CLOUD, Verb::List),
    r(Get,  "/config/cloud/{}/_member",                   Token, &crate::cmdb::cloud::CLOUD, Verb::Member),
    r(Get,  "/config/cloud/{}/_delete",                   Token, &crate::cmdb::cloud::CLOUD, Verb::Delete),
    r(Get,  "/config/cloud/{}",                           Token, &crate::cmdb::cloud::CLOUD, Verb::Show),
    r(Post, "/config/cloud/{}",                           Token, &crate::cmdb::cloud::CLOUD, Verb::Post),

    // Booting: asked for by nodes while they PXE-boot, so no token.
    f(Get,  "/boot",                                      Open,  R, boot::menu),
    f(Get,  "/boot/short",                                Open,  R, boot::short),
    f(Get,  "/boot/disk",                                 Open,  R, boot::disk),
    f(Get,  "/boot/search/mac/{}",                        Open,  R, boot::search_mac),
    c(Get,  "/boot/manual/group/{}/{}",                   Open,     boot::manual_group),
    c(Get,  "/boot/manual/hostname/{}/{}",                Open,     boot::manual_hostname),
    // Installer roles and scripts; a node's provisioning token will do.
    f(Get,  "/boot/roles/{}",                             Install, R, boot::role),
    f(Get,  "/boot/scripts/{}",                           Install, R, boot::script),
    // Install scripts: only to the node itself or a controller (checked inside).
    f(Get,  "/boot/install/{}",                           Node,  R, boot::install),
    f(Get,  "/kickstart/install/{}",                      Open,  R, boot::kickstart),

    // High availability: the journal, roles, monitoring.
    Route { method: Post, pattern: "/journal", auth: Token, write: true, regen: false, handler: Handler::Batch(ha::apply_journal) },
    f(Get,  "/journal/{}/_delete",                        Token, W, ha::delete),
    f(Get,  "/journal/{}",                                Token, R, ha::list),
    f(Get,  "/ha/state",                                  Token, W, ha::ha_state),
    f(Get,  "/ha/master/_set",                            Token, W, ha::set_master),
    f(Get,  "/ha/master",                                 Token, R, ha::master),
    f(Get,  "/ha/overrule/_set",                          Token, W, ha::set_overrule),
    f(Get,  "/ha/controllers",                            Token, W, ha::controllers),
    f(Get,  "/ha/syncimage/{}",                           Token, R, ha::syncimage),
    f(Get,  "/monitor/ha",                                Token, R, ha::monitor),
    f(Get,  "/monitor/ha/{}",                             Token, R, ha::monitor),
    f(Get,  "/monitor/mother",                            Token, R, ha::mother),
    f(Get,  "/monitor/mother/{}",                         Token, R, ha::mother),

    // Exporters (no token) and importers (token).
    f(Get,  "/export/{}",                                 Open,  R, plugins::export),
    f(Post, "/import/{}",                                 Token, R, plugins::import),

    // A node token for a node that proves itself by its TPM.
    f(Post, "/tpm/{}",                                    Open,  W, tpm::token),

    // The BitTorrent tracker of image downloads.
    f(Get,  "/announce",                                  Open,  R, tracker::announce),
    f(Get,  "/scrape",                                    Open,  R, tracker::scrape),

    // File downloads; image and torrent files check the token inside.
    f(Get,  "/files",                                     Open,  R, files::list),
    f(Get,  "/files/{}",                                  Open,  R, files::download),
    f(Get,  "/filesauth",                                 Open,  R, files::auth),

    // Node monitoring
    f(Get,  "/monitor/node",                              Token, R, monitor::nodes),
    f(Get,  "/monitor/node/{}",                           Open,  R, monitor::node),
    f(Post, "/monitor/node/{}",                           Node,  W, monitor::update_node),

    // Power, chassis and SEL control; queued work and its messages
    f(Get,  "/control/action/{}/{}/{}",                   Token, W, control::single),
    f(Post, "/control/action/redfish/{}/{}",              Token, W, control::redfish),
    f(Post, "/control/action/{}/{}",                      Token, W, control::bulk),
    f(Get,  "/control/status/{}",                         Token, W, control::status),
    f(Get,  "/config/status/{}",                          Token, W, control::config_status),
    f(Get,  "/monitor/queue",                             Token, R, control::queue_list),
    f(Get,  "/monitor/osimage",                           Token, R, osimage::monitor),
    f(Get,  "/monitor/osimage/{}",                        Token, R, osimage::monitor),
    f(Get,  "/monitor/sync",                              Token, R, osimage::monitor_sync),
    f(Get,  "/monitor/sync/{}",                           Token, R, osimage::monitor_sync),
    f(Get,  "/monitor/status",                            Token, R, control::status_list),
    f(Post, "/monitor/status",                            Token, W, control::status_push),

    // Service control and the state of the services
    f(Get,  "/service/status/{}",                         Token, W, service::status),
    f(Get,  "/service/{}/reload",                         Token, W, service::reload),
    f(Get,  "/monitor/service/{}",                        Open,  R, service::monitor),

    // Extra DNS records per network
    f(Get,  "/config/dns/{}",                             Token, R, dns::list),
    c(Post, "/config/dns/{}",                             Token,    dns::update),
    c(Get,  "/config/dns/{}/{}/_delete",                  Token,    dns::delete),
];

pub enum Found {
    Route(&'static Route, Vec<String>),
    WrongMethod,
    None,
}

enum Seg {
    Lit(&'static str),
    Capture,
}

fn compiled() -> &'static [(Vec<Seg>, &'static Route)] {
    static TABLE: OnceLock<Vec<(Vec<Seg>, &'static Route)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ROUTES
            .iter()
            .map(|route| {
                let segs = route
                    .pattern
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| if s == "{}" { Seg::Capture } else { Seg::Lit(s) })
                    .collect();
                (segs, route)
            })
            .collect()
    })
}

/// Splits and percent-decodes a path; `None` when the encoding is malformed.
pub fn split_path(path: &str) -> Option<Vec<String>> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    trimmed
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub fn find(method: Method, segments: &[String]) -> Found {
    let mut path_matched = false;
    for (pattern, route) in compiled() {
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let ok = pattern.iter().zip(segments).all(|(p, s)| match p {
            Seg::Lit(l) => l == s,
            Seg::Capture => {
                params.push(s.clone());
                true
            }
        });
        if !ok {
            continue;
        }
        if route.method == method {
            return Found::Route(route, params);
        }
        path_matched = true;
    }
    if path_matched {
        Found::WrongMethod
    } else {
        Found::None
    }
}

pub fn run(route: &Route, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    match &route.handler {
        Handler::Fn(h) => h(ctx),
        Handler::Res(res, verb) => super::resource::run(res, *verb, ctx),
        Handler::Batch(_) => Err(ApiError::Internal(format!(
            "{} runs its own transactions",
            route.pattern
        ))),
    }
}

/// Whether a successful request on `route` is sent to the other controllers:
/// changes to the cluster's configuration. Job requests (packing, grabbing,
/// pushing) and polls that mark messages read are the controller's own.
pub fn replicated(route: &Route) -> bool {
    let p = route.pattern;
    route.write
        && p.starts_with("/config/")
        && !p.starts_with("/config/status/")
        && !["/_pack", "/_osgrab", "/_ospush", "/kernel"]
            .iter()
            .any(|suffix| p.ends_with(suffix))
        && p != "/config/osimage/{}/_clone"
}

/// Paths booting nodes ask for: served by the boot workers (see `http::Lane`).
const BOOT_PREFIXES: &[&str] = &[
    "/boot",
    "/files",
    "/filesauth",
    "/monitor/node/",
    "/announce",
    "/scrape",
];

/// The lane of a request, from its path alone (cheap: the I/O thread asks).
pub fn lane(req: &Incoming) -> Lane {
    let boot = BOOT_PREFIXES.iter().any(|p| {
        req.path
            .strip_prefix(p)
            .is_some_and(|rest| p.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
    });
    if boot {
        Lane::Boot
    } else {
        Lane::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        split_path(p).unwrap()
    }

    #[test]
    fn literal_segments_win_over_captures() {
        match find(Get, &path("/config/network/cluster/_member")) {
            Found::Route(r, p) => {
                assert_eq!(r.pattern, "/config/network/{}/_member");
                assert_eq!(p, vec!["cluster"]);
            }
            _ => panic!("no route"),
        }
        match find(Get, &path("/config/network/cluster/10.141.0.1/")) {
            Found::Route(r, p) => {
                assert_eq!(r.pattern, "/config/network/{}/{}");
                assert_eq!(p, vec!["cluster", "10.141.0.1"]);
            }
            _ => panic!("no route"),
        }
    }

    #[test]
    fn percent_decoding_and_errors() {
        assert_eq!(
            path("/config/group/software%20license"),
            vec!["config", "group", "software license"]
        );
        assert!(split_path("/config/%zz").is_none());
        assert!(matches!(find(Get, &path("/nope")), Found::None));
        assert!(matches!(find(Post, &path("/version")), Found::WrongMethod));
    }

    #[test]
    fn boot_paths_have_their_own_lane() {
        let lane_of = |path: &str| {
            lane(&Incoming {
                method: Get,
                path: path.into(),
                query: String::new(),
                headers: Vec::new(),
                remote: None,
                body: Vec::new(),
            })
        };
        for p in [
            "/boot",
            "/boot/search/mac/x",
            "/files/vmlinuz",
            "/filesauth",
            "/monitor/node/n1",
        ] {
            assert_eq!(lane_of(p), Lane::Boot, "{p}");
        }
        for p in [
            "/bootx",
            "/filesystem",
            "/monitor/node",
            "/config/node",
            "/version",
            "/token",
        ] {
            assert_eq!(lane_of(p), Lane::Admin, "{p}");
        }
    }
}
