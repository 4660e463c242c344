//! luna2d: the Luna2 cluster-provisioning controller.
//!
//! `main` parses the command line and settings, prepares the data directory and
//! database, then hands the listener to `http::serve`. See ARCHITECTURE.md for
//! the map of the code.

mod alloc;
mod api;
mod bencode;
mod cmdb;
mod config;
mod daemon;
mod db;
mod gen;
mod ha;
mod hostlist;
mod http;
mod images;
mod jobs;
mod ldap;
mod metrics;
mod plugins;
mod power;
mod secrets;
mod services;
mod templates;
mod torrent;
mod tracker;
mod util;

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("luna2d: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    // Before any thread exists, so that every thread inherits the mask.
    http::block_stop_signals();
    alloc::limit_arenas();
    let args = config::Args::parse(std::env::args().skip(1)).map_err(|e| e.to_string())?;
    if args.help {
        print!("{}", config::USAGE);
        return Ok(());
    }
    // Everything luna2d creates is its own: directories 0700, files 0600
    // (the database, keys, packed images holding whole OS trees). Generated
    // service configs, which other users' daemons read, set their mode.
    // SAFETY: umask has no failure mode; no other thread exists yet.
    unsafe {
        libc::umask(0o077);
    }
    let cfg = config::Config::load(&args).map_err(|e| e.to_string())?;
    refuse_default_password(&cfg)?;
    init_logging(&cfg)?;
    for dir in [&cfg.data_dir, &cfg.image_files, &cfg.image_directory] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    open_for_services(&cfg)?;
    let secret_file = cfg.data_dir.join("secret.key");
    for file in [&cfg.database, &cfg.key_file, &secret_file] {
        owner_only(file)?;
    }
    let mut db = db::open(&cfg.database)
        .map_err(|e| format!("cannot open database {}: {e}", cfg.database.display()))?;
    db::migrate(&mut db).map_err(|e| format!("cannot migrate database: {e}"))?;
    let sealer = secrets::Sealer::load(&cfg.key_file, cfg.encrypt_secrets).map_err(|e| {
        format!(
            "cannot load the secrets key {}: {e}",
            cfg.key_file.display()
        )
    })?;
    let seed = cmdb::bootstrap::Seed {
        cluster_network: cfg.bootstrap_network,
        controller_ip: cfg.bootstrap_controller,
    };
    cmdb::bootstrap::bootstrap_if_empty(&mut db, &cfg.image_directory, &seed, &sealer)
        .map_err(|e| format!("cannot bootstrap database: {e}"))?;
    // BMC passwords stored before they were sealed (schema 9 and older).
    let sealed = cmdb::bmcsetup::seal_stored(&mut db, &sealer)
        .map_err(|e| format!("cannot seal the stored BMC passwords: {e}"))?;
    if sealed > 0 {
        log::info!("sealed {sealed} BMC password(s) stored in the clear");
    }
    drop(db);
    let auth = api::auth::Keys::load(cfg.secret_key.as_deref(), &cfg.data_dir, cfg.token_expiry)
        .map_err(|e| format!("cannot load the token secret: {e}"))?;
    let templates = templates::Shared::new(&cfg.template_files)?;
    let ldap = ldap::Directory::from_config(&cfg)
        .map_err(|e| format!("cannot prepare the LDAP bind password file: {e}"))?;
    let socket =
        http::bind(cfg.listen).map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let bound = socket.local_addr().map_err(|e| e.to_string())?;
    let tracker = tracker::Tracker::new(tracker::Settings {
        trust_ip: cfg.tracker_trust_ip,
        ..Default::default()
    });
    let ha = ha::Ha::new(cfg.ha_name.clone(), cfg.ha_peers.clone(), cfg.ha_master);
    let ha_master = cfg.ha_master;
    let app = Arc::new(api::App {
        config: cfg,
        auth,
        templates,
        bound,
        cooldowns: Default::default(),
        regen: Default::default(),
        write_lock: Default::default(),
        states: Default::default(),
        generation: Default::default(),
        boot_scripts: Default::default(),
        sealer,
        ldap,
        jobs: Default::default(),
        tracker,
        metrics: Default::default(),
        ha,
    });
    images::remove_partials(&app.config.image_files);
    // The tracker serves the torrents of the images packed here, no others.
    app.tracker.only_allowed();
    for hash in images::torrents_in(&app.config.image_files) {
        app.tracker.allow(hash);
    }
    gen::spawn(app.clone())?;
    jobs::spawn(app.clone())?;
    ha::spawn(app.clone(), ha_master)?;
    images::swarm::spawn(app.clone())?;
    images::seeder::spawn(app.clone())?;
    api::monitor::spawn_state_writer(app.clone())?;
    let limits = app.config.clone();
    let lanes = std::iter::repeat_n(http::Lane::Boot, limits.boot_workers)
        .chain(std::iter::repeat_n(http::Lane::Admin, limits.workers));
    let workers: Vec<(http::Lane, api::Worker)> = lanes
        .map(|lane| api::Worker::new(app.clone()).map(|w| (lane, w)))
        .collect::<Result<_, _>>()?;
    http::serve(socket, limits, workers, api::routes::lane, || {
        // Printed once every database connection is open and requests are
        // served: tests and scripts read it to learn the port of port 0.
        println!("luna2d listening on http://{bound}");
        log::info!(
            "luna2d {} listening on http://{bound}",
            env!("CARGO_PKG_VERSION")
        );
    })
    .map_err(|e| e.to_string())
}

/// The API's credentials default to upstream's `luna`/`luna`: good for a first
/// try on this machine, not for a daemon others can reach.
fn refuse_default_password(cfg: &config::Config) -> Result<(), String> {
    if cfg.listen.ip().is_loopback() || cfg.api_password != config::DEFAULT_API_PASSWORD {
        return Ok(());
    }
    Err(format!(
        "luna2d would listen on {} with the default API password: set [API] PASSWORD \
         (and USERNAME) in the config file, or listen on a loopback address",
        cfg.listen
    ))
}

/// The directories other daemons read from: dhcpd and named their generated
/// configs, a web server fronting `/files` the packed images. Under the data
/// directory (the defaults) they are made 0755 and the data directory 0711
/// (others may pass through it to them, not list it; its own files stay
/// 0600). Everything else luna2d creates stays 0700/0600.
fn open_for_services(cfg: &config::Config) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut shared: Vec<&std::path::Path> = [&cfg.dhcp_config, &cfg.dns_config]
        .iter()
        .filter_map(|p| p.parent())
        .collect();
    shared.push(&cfg.dns_zone_directory);
    if cfg.webserver.is_some() {
        shared.push(&cfg.image_files);
    }
    let set = |dir: &std::path::Path, mode: u32| {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))
    };
    for dir in shared {
        if !dir.starts_with(&cfg.data_dir) {
            continue;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        set(dir, 0o755)?;
        // Every directory between the data directory and this one: passable.
        for between in dir.ancestors().skip(1) {
            if !between.starts_with(&cfg.data_dir) {
                break;
            }
            let mode = std::fs::metadata(between)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0o700);
            if mode & 0o011 != 0o011 {
                set(between, mode | 0o011)?;
            }
        }
    }
    Ok(())
}

/// Refuses a database or key file that users other than its owner may read
/// or write: the database holds password hashes and sealed secrets, the key
/// files what opens them and signs tokens.
fn owner_only(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Err(format!(
            "{} is open to users other than its owner (mode {:o}): run chmod 600 {} \
             (and consider what was readable meanwhile), then start luna2d again",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        )),
        _ => Ok(()),
    }
}

/// simplelog writes a line in many small pieces; `LineWriter` makes each line one
/// `write(2)` (it was five per request, a sixth of the request's cost).
fn init_logging(cfg: &config::Config) -> Result<(), String> {
    use std::io::LineWriter;
    let log_config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .build();
    let result = match &cfg.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            simplelog::WriteLogger::init(cfg.log_level, log_config, LineWriter::new(file))
        }
        None => simplelog::WriteLogger::init(
            cfg.log_level,
            log_config,
            LineWriter::new(std::io::stderr()),
        ),
    };
    result.map_err(|e| e.to_string())
}
