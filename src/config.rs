//! Settings: defaults, `luna.ini` parsing and the command line.
//!
//! Every key luna2d understands is one row of `KEYS`, with its section, name and
//! default. A file may set only those keys; anything else stops start-up with a
//! message naming the key, because a typo in a provisioning controller's config
//! should never be silently ignored. Section and key names are upstream's.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `(section, key, default)`. An empty default means "unset"; `{data}` is replaced
/// by the `--data` directory.
const KEYS: &[(&str, &str, &str)] = &[
    ("LOGGER", "LEVEL", "info"),
    ("LOGGER", "LOGFILE", ""),
    ("API", "USERNAME", "luna"),
    ("API", "PASSWORD", DEFAULT_API_PASSWORD),
    ("API", "EXPIRY", "1h"),
    ("API", "SECRET_KEY", ""),
    ("API", "ENDPOINT", "127.0.0.1:7050"),
    ("API", "PROTOCOL", "http"),
    ("API", "VERIFY_CERTIFICATE", "no"),
    ("DATABASE", "DRIVER", "SQLite3"),
    ("DATABASE", "DATABASE", "{data}/luna.db"),
    ("FILES", "KEYFILE", "{data}/luna.key"),
    ("FILES", "IMAGE_FILES", "{data}/files"),
    ("FILES", "IMAGE_DIRECTORY", "{data}/images"),
    ("FILES", "TMP_DIRECTORY", "{data}/tmp"),
    ("FILES", "MAXPACKAGINGTIME", "10m"),
    // luna2d's own: how grab and push reach nodes: 'ssh' (root's keys, as
    // upstream) or 'daemon' (an rsync daemon on the node: module, port).
    // luna2d's own: the program that seeds the packed images (empty: none)
    // and its BitTorrent port; whether torrents also name the controller's
    // /files as a web seed.
    // luna2d's own: the tarball's compressor: auto (zstd, pigz, lbzip2,
    // gzip: the first installed), or one of them by name.
    ("FILES", "COMPRESSOR", "auto"),
    ("FILES", "SEEDER", "aria2c"),
    ("FILES", "SEEDER_PORT", "51413"),
    ("FILES", "SEEDER_UPLOAD_LIMIT", "0"),
    ("FILES", "WEBSEED", "no"),
    // luna2d's own: whether the tracker believes a node's `ip` parameter (and
    // lets a peer id move between addresses); off, it uses the address the
    // node connects from.
    ("FILES", "TRACKER_TRUST_IP", "no"),
    ("FILES", "RSYNC_TRANSPORT", "ssh"),
    ("FILES", "RSYNC_MODULE", "root"),
    ("FILES", "RSYNC_PORT", "873"),
    ("SECRETS", "ENCRYPT_SECRETS", "yes"),
    ("WEBSERVER", "PORT", ""),
    ("WEBSERVER", "PROTOCOL", ""),
    ("SERVICES", "DHCP", "dhcpd"),
    ("SERVICES", "DHCP6", "dhcpd6"),
    ("SERVICES", "DNS", "named"),
    ("SERVICES", "CONTROL", "systemd"),
    ("SERVICES", "COOLDOWN", "2s"),
    // Empty: configs are written but no service is reloaded (a safe default for
    // a development run; etc/luna.ini sets /usr/bin/systemctl).
    ("SERVICES", "COMMAND", ""),
    ("DHCP", "CONFIG_PATH", "{data}/dhcp/dhcpd.conf"),
    // Validates a staged dhcpd.conf (its path is appended); empty skips it.
    ("DHCP", "TEST", "dhcpd -t -cf"),
    ("DNS", "CONFIG_PATH", "{data}/dns/named.luna.zones"),
    ("DNS", "ZONE_DIRECTORY", "{data}/dns"),
    ("DNS", "CHECKCONF", "named-checkconf"),
    ("DNS", "CHECKZONE", "named-checkzone"),
    ("TEMPLATES", "TEMPLATE_FILES", "{data}/templates"),
    ("TEMPLATES", "TMP_DIRECTORY", "{data}/tmp/templates"),
    ("BMCCONTROL", "BMC_BATCH_SIZE", "10"),
    ("BMCCONTROL", "BMC_BATCH_DELAY", "1s"),
    // luna2d's own: how long one BMC may take to answer one command, how long
    // a control request waits for its results before answering a request id
    // to poll, how Redfish BMCs' certificates are checked (an empty CA file:
    // the system's trust store), and how many jobs run at once.
    ("BMCCONTROL", "BMC_TIMEOUT", "10s"),
    ("BMCCONTROL", "IPMI_CIPHER_SUITE", "3"),
    ("BMCCONTROL", "CONTROL_WAIT", "15s"),
    ("BMCCONTROL", "REDFISH_VERIFY_CERT", "yes"),
    ("BMCCONTROL", "REDFISH_CA_FILE", ""),
    ("BMCCONTROL", "JOB_WORKERS", "2"),
    ("HA", "NO_SHAREDIP", "no"),
    // luna2d's own: this controller's name, the other controllers
    // (name=ip:port, comma separated; none: HA off), and whether this one is
    // the master when no role was recorded yet. Controllers share
    // [API] SECRET_KEY, with which they sign the tokens they send each other.
    ("HA", "NAME", "controller"),
    ("HA", "PEERS", ""),
    ("HA", "MASTER", "yes"),
    // A shadow takes the master role by itself when the master has not
    // answered for FAILOVER_AFTER ('auto'), or only by /ha/master/_set
    // ('manual'); shadows compare their tables with the master's every
    // SYNC_EVERY and repair those that differ.
    ("HA", "FAILOVER", "manual"),
    ("HA", "FAILOVER_AFTER", "10s"),
    ("HA", "SYNC_EVERY", "30s"),
    // Shadows fetch the image files the master packed (from its /files).
    ("HA", "SYNC_IMAGES", "yes"),
    // Exporters and importers served at /export/{name} and /import/{name}
    // (comma lists; built in: prometheus); where imported Prometheus rules go,
    // and the promtool that checks them first (empty: no check).
    ("PLUGINS", "ALLOWED_EXPORTERS", "prometheus"),
    ("PLUGINS", "ALLOWED_IMPORTERS", "prometheus"),
    (
        "PLUGINS",
        "PROMETHEUS_RULES",
        "{data}/prometheus/luna.rules.yml",
    ),
    ("PLUGINS", "PROMTOOL", "promtool"),
    // luna2d's own (upstream's bootstrap.ini): the cluster network and the
    // controller's address written into a new database at first start.
    ("BOOTSTRAP", "CLUSTER_NETWORK", "10.141.0.0/16"),
    ("BOOTSTRAP", "CONTROLLER_IP", "10.141.255.254"),
    // The directory for OS users and groups; an empty URI disables them.
    ("LDAP", "URI", ""),
    ("LDAP", "BASE", "dc=cluster"),
    ("LDAP", "BINDDN", "cn=admin,dc=cluster"),
    ("LDAP", "BINDPW", ""),
    // luna2d's own: the listener and its limits.
    ("SERVER", "LISTEN", "127.0.0.1:7050"),
    ("SERVER", "WORKERS", "8"),
    ("SERVER", "BOOT_WORKERS", "4"),
    ("SERVER", "BODY_BYTES_MAX", "16777216"),
    ("SERVER", "HEADER_BYTES_MAX", "16384"),
    ("SERVER", "HEADER_COUNT_MAX", "64"),
    // Deadlines on whole phases of a connection (see src/http/): a head must
    // arrive within HEAD_TIMEOUT of its first byte; a body and a reply get a
    // grace period plus time at a minimum rate (bytes per second).
    ("SERVER", "HEAD_TIMEOUT", "10s"),
    ("SERVER", "BODY_TIMEOUT", "10s"),
    ("SERVER", "BODY_RATE_MIN", "1024"),
    ("SERVER", "SEND_TIMEOUT", "30s"),
    ("SERVER", "SEND_RATE_MIN", "1024"),
    ("SERVER", "IDLE_TIMEOUT", "60s"),
    ("SERVER", "CONNECTIONS_MAX", "16384"),
    ("SERVER", "DRAIN_TIMEOUT", "10s"),
];

#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validated settings. Everything is parsed once at start-up.
/// Upstream's API password, accepted only while listening on loopback.
pub const DEFAULT_API_PASSWORD: &str = "luna";

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub workers: usize,
    /// Workers that serve only the boot path (`/boot`, `/files`, node monitoring).
    pub boot_workers: usize,
    pub body_bytes_max: u64,
    pub header_bytes_max: usize,
    pub header_count_max: usize,
    /// A request head must be complete this long after its first byte.
    pub head_timeout: Duration,
    /// A body gets this long plus its length at `body_rate_min`.
    pub body_timeout: Duration,
    pub body_rate_min: u64,
    /// A reply gets this long plus its length at `send_rate_min`.
    pub send_timeout: Duration,
    pub send_rate_min: u64,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout: Duration,
    pub connections_max: usize,
    /// After SIGTERM, how long in-flight requests and replies may take.
    pub drain_timeout: Duration,
    pub log_level: log::LevelFilter,
    pub log_file: Option<PathBuf>,
    pub api_username: String,
    /// `http` or `https`: how nodes reach the API.
    pub api_protocol: String,
    pub verify_certificate: bool,
    /// Where nodes fetch files, when a web server fronts IMAGE_FILES.
    pub webserver: Option<(String, u16)>,
    pub template_files: PathBuf,
    pub ldap_uri: String,
    pub ldap_base: String,
    pub ldap_binddn: String,
    pub ldap_bindpw: String,
    /// `[FILES] KEYFILE`: the key secrets are sealed with.
    pub key_file: PathBuf,
    /// `[SECRETS] ENCRYPT_SECRETS`
    pub encrypt_secrets: bool,
    /// Minimum time between two reloads of one service.
    pub cooldown: Duration,
    /// `[SERVICES] COMMAND`: the service manager.
    pub service_command: String,
    /// `[SERVICES] DHCP`, `DNS`: unit names.
    pub dhcp_unit: String,
    pub dns_unit: String,
    pub dhcp_config: PathBuf,
    pub dhcp_test: String,
    pub dns_config: PathBuf,
    pub dns_zone_directory: PathBuf,
    pub dns_checkconf: String,
    pub dns_checkzone: String,
    pub api_password: String,
    pub token_expiry: Duration,
    pub secret_key: Option<String>,
    pub database: PathBuf,
    pub image_files: PathBuf,
    pub image_directory: PathBuf,
    /// `[BMCCONTROL]`: BMCs driven at once, the pause between batches, the
    /// time one BMC command may take.
    pub bmc_batch_size: usize,
    pub bmc_batch_delay: Duration,
    pub bmc_timeout: Duration,
    /// How long a control request waits for its job before answering the
    /// request id instead.
    pub control_wait: Duration,
    pub redfish_verify_cert: bool,
    /// `ipmitool -C`: the IPMI 2.0 cipher suite.
    pub ipmi_cipher_suite: u8,
    pub redfish_ca_file: Option<PathBuf>,
    /// Jobs run at once by the queue's runner.
    pub job_workers: usize,
    /// `[FILES] MAXPACKAGINGTIME`: the limit on each step of a pack.
    pub max_packaging_time: Duration,
    /// `[FILES] COMPRESSOR`: `auto` or a compressor's name.
    pub compressor: String,
    /// `[FILES] SEEDER`, `SEEDER_PORT`, `WEBSEED`.
    pub seeder: String,
    pub seeder_port: u16,
    /// Bytes per second the seeder may upload in all (0: no limit).
    pub seeder_upload_limit: u64,
    pub webseed: bool,
    pub tracker_trust_ip: bool,
    /// `[HA]`
    pub ha_name: String,
    pub ha_peers: Vec<Peer>,
    pub ha_master: bool,
    pub ha_auto_failover: bool,
    pub ha_failover_after: Duration,
    pub ha_sync_every: Duration,
    pub ha_sync_images: bool,
    /// `[PLUGINS]`
    pub allowed_exporters: Vec<String>,
    pub allowed_importers: Vec<String>,
    pub prometheus_rules: PathBuf,
    pub promtool: String,
    /// `[BOOTSTRAP]`: the first cluster network and controller address.
    pub bootstrap_network: ipnet::Ipv4Net,
    pub bootstrap_controller: std::net::Ipv4Addr,
    /// `[FILES] RSYNC_TRANSPORT`, `RSYNC_MODULE`, `RSYNC_PORT`.
    pub rsync_transport: String,
    pub rsync_module: String,
    pub rsync_port: u16,
}

/// The command line, before the config file is read.
#[derive(Debug, Default)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub help: bool,
}

pub const USAGE: &str = "\
luna2d: the Luna2 cluster-provisioning controller

Usage: luna2d [--config FILE] [--listen ADDR:PORT] [--data DIR]

Options:
  --config FILE       luna.ini to read (default: none; every setting has a default)
  --listen ADDR:PORT  address to serve the REST API on, by IP (default 127.0.0.1:7050)
  --data DIR          where the database and everything else luna2d writes lives
                      (default ./var)
  --help              print this help
";

impl Args {
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Args, ConfigError> {
        let mut out = Args::default();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, ConfigError> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ConfigError(format!("{name} needs a value")))
            };
            match flag.as_str() {
                "--config" | "-c" => out.config = Some(PathBuf::from(value("--config")?)),
                "--listen" | "-l" => out.listen = Some(value("--listen")?),
                "--data" | "-d" => out.data = Some(PathBuf::from(value("--data")?)),
                "--help" | "-h" => out.help = true,
                other => {
                    return Err(ConfigError(format!(
                        "unknown argument '{other}' (see --help)"
                    )))
                }
            }
        }
        Ok(out)
    }
}

impl Config {
    /// The service manager's unit name for one of luna2d's services.
    pub fn service_unit(&self, service: &str) -> String {
        match service {
            "dhcp" => self.dhcp_unit.clone(),
            "dns" => self.dns_unit.clone(),
            other => other.to_string(),
        }
    }

    /// Builds the settings from defaults, the optional file and the command line,
    /// in that order of precedence (command line wins).
    pub fn load(args: &Args) -> Result<Config, ConfigError> {
        let text = match &args.config {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?),
            None => None,
        };
        Config::from_parts(
            text.as_deref(),
            args.listen.as_deref(),
            args.data.as_deref(),
        )
    }

    pub fn from_parts(
        ini: Option<&str>,
        listen: Option<&str>,
        data: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let data_dir = data
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("./var"));
        let mut raw: HashMap<(String, String), String> = KEYS
            .iter()
            .map(|(s, k, d)| ((s.to_string(), k.to_string()), d.to_string()))
            .collect();
        if let Some(text) = ini {
            for (section, key, value) in parse_ini(text)? {
                let slot = (section.clone(), key.clone());
                if !raw.contains_key(&slot) {
                    return Err(ConfigError(format!("unknown setting [{section}] {key}")));
                }
                raw.insert(slot, value);
            }
        }
        if let Some(l) = listen {
            raw.insert(("SERVER".into(), "LISTEN".into()), l.to_string());
        }
        let data_str = data_dir.to_string_lossy().into_owned();
        for v in raw.values_mut() {
            if v.contains("{data}") {
                *v = v.replace("{data}", &data_str);
            }
        }
        let get = |s: &str, k: &str| {
            raw.get(&(s.to_string(), k.to_string()))
                .cloned()
                .unwrap_or_default()
        };
        let listen: SocketAddr = get("SERVER", "LISTEN").parse().map_err(|_| {
            ConfigError(format!(
                "[SERVER] LISTEN '{}' is not an IP:PORT address (names are not resolved)",
                get("SERVER", "LISTEN")
            ))
        })?;
        let log_level = match get("LOGGER", "LEVEL").to_ascii_lowercase().as_str() {
            "error" | "critical" => log::LevelFilter::Error,
            "warning" | "warn" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            "off" | "none" => log::LevelFilter::Off,
            other => {
                return Err(ConfigError(format!(
                    "[LOGGER] LEVEL '{other}' is not a log level"
                )))
            }
        };
        let opt_path = |v: String| {
            if v.is_empty() {
                None
            } else {
                Some(PathBuf::from(v))
            }
        };
        let cfg = Config {
            listen,
            workers: parse_int("SERVER", "WORKERS", &get("SERVER", "WORKERS"), 1, 1024)? as usize,
            boot_workers: parse_int(
                "SERVER",
                "BOOT_WORKERS",
                &get("SERVER", "BOOT_WORKERS"),
                1,
                1024,
            )? as usize,
            body_bytes_max: parse_int(
                "SERVER",
                "BODY_BYTES_MAX",
                &get("SERVER", "BODY_BYTES_MAX"),
                1024,
                1 << 34,
            )?,
            header_bytes_max: parse_int(
                "SERVER",
                "HEADER_BYTES_MAX",
                &get("SERVER", "HEADER_BYTES_MAX"),
                1024,
                1 << 24,
            )? as usize,
            header_count_max: parse_int(
                "SERVER",
                "HEADER_COUNT_MAX",
                &get("SERVER", "HEADER_COUNT_MAX"),
                8,
                4096,
            )? as usize,
            head_timeout: parse_duration(
                "SERVER",
                "HEAD_TIMEOUT",
                &get("SERVER", "HEAD_TIMEOUT"),
                's',
            )?,
            body_timeout: parse_duration(
                "SERVER",
                "BODY_TIMEOUT",
                &get("SERVER", "BODY_TIMEOUT"),
                's',
            )?,
            body_rate_min: parse_int(
                "SERVER",
                "BODY_RATE_MIN",
                &get("SERVER", "BODY_RATE_MIN"),
                1,
                1 << 40,
            )?,
            send_timeout: parse_duration(
                "SERVER",
                "SEND_TIMEOUT",
                &get("SERVER", "SEND_TIMEOUT"),
                's',
            )?,
            send_rate_min: parse_int(
                "SERVER",
                "SEND_RATE_MIN",
                &get("SERVER", "SEND_RATE_MIN"),
                1,
                1 << 40,
            )?,
            idle_timeout: parse_duration(
                "SERVER",
                "IDLE_TIMEOUT",
                &get("SERVER", "IDLE_TIMEOUT"),
                's',
            )?,
            connections_max: parse_int(
                "SERVER",
                "CONNECTIONS_MAX",
                &get("SERVER", "CONNECTIONS_MAX"),
                4,
                1 << 20,
            )? as usize,
            drain_timeout: parse_duration(
                "SERVER",
                "DRAIN_TIMEOUT",
                &get("SERVER", "DRAIN_TIMEOUT"),
                's',
            )?,
            log_level,
            log_file: opt_path(get("LOGGER", "LOGFILE")),
            api_username: get("API", "USERNAME"),
            api_protocol: match get("API", "PROTOCOL").as_str() {
                p @ ("http" | "https") => p.to_string(),
                other => {
                    return Err(ConfigError(format!(
                        "[API] PROTOCOL '{other}' must be http or https"
                    )))
                }
            },
            verify_certificate: parse_bool(
                "API",
                "VERIFY_CERTIFICATE",
                &get("API", "VERIFY_CERTIFICATE"),
            )?,
            webserver: match (
                get("WEBSERVER", "PORT").as_str(),
                get("WEBSERVER", "PROTOCOL").as_str(),
            ) {
                ("", _) => None,
                (port, proto) => Some((
                    if proto.is_empty() {
                        "http".to_string()
                    } else {
                        proto.to_string()
                    },
                    parse_int("WEBSERVER", "PORT", port, 1, 65535)? as u16,
                )),
            },
            template_files: PathBuf::from(get("TEMPLATES", "TEMPLATE_FILES")),
            ldap_uri: get("LDAP", "URI"),
            ldap_base: get("LDAP", "BASE"),
            ldap_binddn: get("LDAP", "BINDDN"),
            ldap_bindpw: get("LDAP", "BINDPW"),
            key_file: PathBuf::from(get("FILES", "KEYFILE")),
            encrypt_secrets: parse_bool(
                "SECRETS",
                "ENCRYPT_SECRETS",
                &get("SECRETS", "ENCRYPT_SECRETS"),
            )?,
            cooldown: parse_duration("SERVICES", "COOLDOWN", &get("SERVICES", "COOLDOWN"), 's')?,
            bmc_batch_size: parse_int(
                "BMCCONTROL",
                "BMC_BATCH_SIZE",
                &get("BMCCONTROL", "BMC_BATCH_SIZE"),
                1,
                10_000,
            )? as usize,
            bmc_batch_delay: parse_duration(
                "BMCCONTROL",
                "BMC_BATCH_DELAY",
                &get("BMCCONTROL", "BMC_BATCH_DELAY"),
                's',
            )?,
            bmc_timeout: parse_duration(
                "BMCCONTROL",
                "BMC_TIMEOUT",
                &get("BMCCONTROL", "BMC_TIMEOUT"),
                's',
            )?,
            control_wait: parse_duration(
                "BMCCONTROL",
                "CONTROL_WAIT",
                &get("BMCCONTROL", "CONTROL_WAIT"),
                's',
            )?,
            redfish_verify_cert: parse_bool(
                "BMCCONTROL",
                "REDFISH_VERIFY_CERT",
                &get("BMCCONTROL", "REDFISH_VERIFY_CERT"),
            )?,
            redfish_ca_file: opt_path(get("BMCCONTROL", "REDFISH_CA_FILE")),
            ipmi_cipher_suite: parse_int(
                "BMCCONTROL",
                "IPMI_CIPHER_SUITE",
                &get("BMCCONTROL", "IPMI_CIPHER_SUITE"),
                0,
                17,
            )? as u8,
            max_packaging_time: parse_duration(
                "FILES",
                "MAXPACKAGINGTIME",
                &get("FILES", "MAXPACKAGINGTIME"),
                's',
            )?,
            rsync_transport: match get("FILES", "RSYNC_TRANSPORT").as_str() {
                t @ ("ssh" | "daemon") => t.to_string(),
                other => {
                    return Err(ConfigError(format!(
                        "[FILES] RSYNC_TRANSPORT '{other}': ssh or daemon expected"
                    )))
                }
            },
            rsync_module: get("FILES", "RSYNC_MODULE"),
            compressor: match get("FILES", "COMPRESSOR").trim() {
                c @ ("auto" | "zstd" | "pigz" | "lbzip2" | "gzip") => c.to_string(),
                other => {
                    return Err(ConfigError(format!(
                        "[FILES] COMPRESSOR '{other}': auto, zstd, pigz, lbzip2 or gzip expected"
                    )))
                }
            },
            ha_name: get("HA", "NAME").trim().to_string(),
            ha_peers: parse_peers(&get("HA", "PEERS"))
                .map_err(|e| ConfigError(format!("[HA] PEERS {e}")))?,
            ha_master: parse_bool("HA", "MASTER", &get("HA", "MASTER"))?,
            ha_auto_failover: match get("HA", "FAILOVER").trim() {
                "auto" => true,
                "manual" => false,
                other => {
                    return Err(ConfigError(format!(
                        "[HA] FAILOVER '{other}': auto or manual expected"
                    )))
                }
            },
            ha_failover_after: parse_duration(
                "HA",
                "FAILOVER_AFTER",
                &get("HA", "FAILOVER_AFTER"),
                's',
            )?,
            ha_sync_every: parse_duration("HA", "SYNC_EVERY", &get("HA", "SYNC_EVERY"), 's')?,
            ha_sync_images: parse_bool("HA", "SYNC_IMAGES", &get("HA", "SYNC_IMAGES"))?,
            allowed_exporters: list(&get("PLUGINS", "ALLOWED_EXPORTERS")),
            allowed_importers: list(&get("PLUGINS", "ALLOWED_IMPORTERS")),
            prometheus_rules: PathBuf::from(get("PLUGINS", "PROMETHEUS_RULES")),
            promtool: get("PLUGINS", "PROMTOOL").trim().to_string(),
            seeder: get("FILES", "SEEDER").trim().to_string(),
            seeder_port: parse_int("FILES", "SEEDER_PORT", &get("FILES", "SEEDER_PORT"), 1, 65535)?
                as u16,
            webseed: parse_bool("FILES", "WEBSEED", &get("FILES", "WEBSEED"))?,
            tracker_trust_ip: parse_bool(
                "FILES",
                "TRACKER_TRUST_IP",
                &get("FILES", "TRACKER_TRUST_IP"),
            )?,
            seeder_upload_limit: parse_int(
                "FILES",
                "SEEDER_UPLOAD_LIMIT",
                &get("FILES", "SEEDER_UPLOAD_LIMIT"),
                0,
                u64::MAX,
            )?,
            bootstrap_network: get("BOOTSTRAP", "CLUSTER_NETWORK")
                .trim()
                .parse::<ipnet::Ipv4Net>()
                .map(|n| n.trunc())
                .map_err(|_| {
                    ConfigError(format!(
                        "[BOOTSTRAP] CLUSTER_NETWORK '{}': an IPv4 network in CIDR notation expected",
                        get("BOOTSTRAP", "CLUSTER_NETWORK")
                    ))
                })?,
            bootstrap_controller: get("BOOTSTRAP", "CONTROLLER_IP")
                .trim()
                .parse()
                .map_err(|_| {
                    ConfigError(format!(
                        "[BOOTSTRAP] CONTROLLER_IP '{}': an IPv4 address expected",
                        get("BOOTSTRAP", "CONTROLLER_IP")
                    ))
                })?,
            rsync_port: parse_int("FILES", "RSYNC_PORT", &get("FILES", "RSYNC_PORT"), 1, 65535)?
                as u16,
            job_workers: parse_int(
                "BMCCONTROL",
                "JOB_WORKERS",
                &get("BMCCONTROL", "JOB_WORKERS"),
                1,
                64,
            )? as usize,
            service_command: get("SERVICES", "COMMAND"),
            dhcp_unit: get("SERVICES", "DHCP"),
            dns_unit: get("SERVICES", "DNS"),
            dhcp_config: PathBuf::from(get("DHCP", "CONFIG_PATH")),
            dhcp_test: get("DHCP", "TEST"),
            dns_config: PathBuf::from(get("DNS", "CONFIG_PATH")),
            dns_zone_directory: PathBuf::from(get("DNS", "ZONE_DIRECTORY")),
            dns_checkconf: get("DNS", "CHECKCONF"),
            dns_checkzone: get("DNS", "CHECKZONE"),
            api_password: get("API", "PASSWORD"),
            token_expiry: parse_duration("API", "EXPIRY", &get("API", "EXPIRY"), 'h')?,
            secret_key: Some(get("API", "SECRET_KEY")).filter(|s| !s.is_empty()),
            database: PathBuf::from(get("DATABASE", "DATABASE")),
            image_files: PathBuf::from(get("FILES", "IMAGE_FILES")),
            image_directory: PathBuf::from(get("FILES", "IMAGE_DIRECTORY")),
            data_dir,
        };
        for (key, d) in [
            ("HEAD_TIMEOUT", cfg.head_timeout),
            ("BODY_TIMEOUT", cfg.body_timeout),
            ("SEND_TIMEOUT", cfg.send_timeout),
            ("IDLE_TIMEOUT", cfg.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError(format!("[SERVER] {key} must be more than 0s")));
            }
        }
        if cfg.token_expiry.is_zero() {
            return Err(ConfigError("[API] EXPIRY must be more than 0s".into()));
        }
        let driver = get("DATABASE", "DRIVER");
        if !driver.eq_ignore_ascii_case("sqlite3") {
            return Err(ConfigError(format!(
                "[DATABASE] DRIVER '{driver}' is not supported (SQLite3 only)"
            )));
        }
        if !cfg.bootstrap_network.contains(&cfg.bootstrap_controller) {
            return Err(ConfigError(format!(
                "[BOOTSTRAP] CONTROLLER_IP {} is not inside CLUSTER_NETWORK {}",
                cfg.bootstrap_controller, cfg.bootstrap_network
            )));
        }
        if cfg.bmc_timeout.is_zero() {
            return Err(ConfigError(
                "[BMCCONTROL] BMC_TIMEOUT must be more than 0s".into(),
            ));
        }
        for (s, k) in [
            ("API", "VERIFY_CERTIFICATE"),
            ("SECRETS", "ENCRYPT_SECRETS"),
            ("HA", "NO_SHAREDIP"),
        ] {
            parse_bool(s, k, &get(s, k))?;
        }
        Ok(cfg)
    }
}

/// Parses INI text into `(SECTION, KEY, value)`, upper-casing section and key
/// names as upstream does. Comments start with `#` or `;`.
fn parse_ini(text: &str) -> Result<Vec<(String, String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    for (idx, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                ConfigError(format!(
                    "line {}: malformed section header '{line}'",
                    idx + 1
                ))
            })?;
            section = Some(name.trim().to_ascii_uppercase());
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            ConfigError(format!(
                "line {}: expected KEY = value, got '{line}'",
                idx + 1
            ))
        })?;
        let section = section.clone().ok_or_else(|| {
            ConfigError(format!("line {}: setting outside any [SECTION]", idx + 1))
        })?;
        out.push((
            section,
            key.trim().to_ascii_uppercase(),
            value.trim().to_string(),
        ));
    }
    Ok(out)
}

/// Another controller.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
}

/// Parses `[HA] PEERS`: `name=ip:port` entries, comma separated.
pub fn parse_peers(text: &str) -> Result<Vec<Peer>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, addr) = p
                .split_once('=')
                .ok_or_else(|| format!("'{p}': name=ip:port expected"))?;
            let addr: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("'{p}': an IP address and port expected"))?;
            Ok(Peer {
                name: name.trim().to_string(),
                addr,
            })
        })
        .collect()
}

/// A comma (or space) separated list.
fn list(v: &str) -> Vec<String> {
    v.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_int(section: &str, key: &str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError(format!(
            "[{section}] {key} '{v}' must be a whole number from {min} to {max}"
        ))),
    }
}

fn parse_bool(section: &str, key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "on" => Ok(true),
        "no" | "n" | "false" | "0" | "off" | "" => Ok(false),
        _ => Err(ConfigError(format!(
            "[{section}] {key} '{v}' must be yes or no"
        ))),
    }
}

/// `"1h"`, `"30m"`, `"10s"`; a bare number counts in `bare_unit` (upstream reads a
/// bare EXPIRY as hours).
pub fn parse_duration(
    section: &str,
    key: &str,
    v: &str,
    bare_unit: char,
) -> Result<Duration, ConfigError> {
    let v = v.trim();
    let bad = || {
        ConfigError(format!(
            "[{section}] {key} '{v}' is not a duration like 1h, 30m or 10s"
        ))
    };
    let (digits, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&v[..i], c.to_ascii_lowercase()),
        Some(_) => (v, bare_unit),
        None => return Err(bad()),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    let secs = match unit {
        'h' => n.checked_mul(3600),
        'm' => n.checked_mul(60),
        's' => Some(n),
        'd' => n.checked_mul(86400),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::from_parts(None, None, Some(Path::new("/tmp/x"))).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7050");
        assert_eq!(c.database, PathBuf::from("/tmp/x/luna.db"));
        assert_eq!(c.token_expiry, Duration::from_secs(3600));
    }

    #[test]
    fn unknown_and_malformed_settings_are_named() {
        let e = Config::from_parts(Some("[API]\nUSERNAM = x\n"), None, None).unwrap_err();
        assert!(e.0.contains("[API] USERNAM"), "{e}");
        let e = Config::from_parts(Some("[API]\nEXPIRY = soon\n"), None, None).unwrap_err();
        assert!(e.0.contains("EXPIRY"), "{e}");
        let e = Config::from_parts(Some("[SERVER]\nLISTEN = localhost:7050\n"), None, None)
            .unwrap_err();
        assert!(e.0.contains("LISTEN"), "{e}");
        let e = Config::from_parts(Some("USERNAME = x\n"), None, None).unwrap_err();
        assert!(e.0.contains("outside"), "{e}");
    }

    #[test]
    fn the_shipped_luna_ini_is_valid() {
        let c = Config::from_parts(Some(include_str!("../etc/luna.ini")), None, None).unwrap();
        assert_eq!(c.service_command, "/usr/bin/systemctl");
        assert_eq!(c.dhcp_config, PathBuf::from("/etc/dhcp/dhcpd.conf"));
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("A", "B", "30m", 'h').unwrap(),
            Duration::from_secs(1800)
        );
        assert_eq!(
            parse_duration("A", "B", "2", 'h').unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration("A", "B", "5s", 'h').unwrap(),
            Duration::from_secs(5)
        );
        assert!(parse_duration("A", "B", "", 'h').is_err());
        assert!(parse_duration("A", "B", "5x", 'h').is_err());
    }

    #[test]
    fn args() {
        let a = Args::parse(
            ["--listen", "127.0.0.1:0", "--data=/d"]
                .iter()
                .map(|s| s.to_string()),
        )
        .unwrap();
        assert_eq!(a.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(a.data, Some(PathBuf::from("/d")));
        assert!(Args::parse(["--bogus"].iter().map(|s| s.to_string())).is_err());
    }
}
