//! OS image jobs: pack (kernel, initramfs, tarball, torrent), clone (copy the
//! tree, then pack the copy), grab (rsync from a node into the image, then
//! pack unless `bare` or a dry run), push (rsync the image to nodes).
//!
//! The image's files change in the transaction that ends the job; files they
//! replaced are removed after it committed, if no image or tag still names them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{read, Finish, Run};
use crate::cmdb::osimage;
use crate::images::rsync::{self, Direction, Trees};
use crate::images::{self, Image, Packed};

/// Nodes pushed to at once.
const PUSH_PARALLEL: usize = 8;

/// What an osimage job was asked, as stored in its row.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Params {
    pub osimage: String,
    /// For `clone`: the image copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For `grab` and `push`: the nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// For `grab` and `push`: change nothing, list what would change.
    #[serde(default)]
    pub dry_run: bool,
    /// For `grab`: do not pack afterwards.
    #[serde(default)]
    pub bare: bool,
    /// For `/monitor/queue`.
    pub label: String,
}

pub fn run(run: &mut Run) -> Result<Finish, String> {
    let params: Params =
        serde_json::from_str(&run.job.param).map_err(|e| format!("unreadable parameters: {e}"))?;
    match run.job.task.split(' ').next().unwrap_or("") {
        "pack" => pack(run, &params),
        "clone" => {
            let source = params.source.clone().unwrap_or_default();
            let (from, to) = read(run.app, run.db, |store| {
                Ok((
                    osimage::info(store, &source)?,
                    osimage::info(store, &params.osimage)?,
                ))
            })
            .map_err(|e| e.to_string())?;
            run.message(200, &format!("copying {} to {}", from.path, to.path));
            if let Err(e) = copy_tree(Path::new(&from.path), Path::new(&to.path)) {
                set_state(
                    run,
                    &to.name,
                    "failed",
                    &format!("{} copy failed: {e}", to.name),
                );
                return Err(e);
            }
            pack(run, &params)
        }
        "grab" => grab(run, &params),
        "push" => push(run, &params),
        other => Err(format!("unknown osimage task '{other}'")),
    }
}

fn settings(run: &mut Run) -> Result<images::Settings, String> {
    let cfg = run.app.config();
    let urls = read(run.app, run.db, |store| {
        crate::cmdb::boot::urls(store, run.app.port())
    })
    .map_err(|e| e.to_string())?;
    Ok(images::Settings {
        files: cfg.image_files.clone(),
        limit: cfg.max_packaging_time,
        announce: Some(format!("{}/announce", urls.api)),
        files_url: cfg.webseed.then_some(urls.files),
        compressor: cfg.compressor.clone(),
    })
}

fn set_state(run: &mut Run, name: &str, status: &str, state: &str) {
    let result = super::write(run.app, run.db, |store| {
        osimage::set_state(store, "osimage", name, status, state)
    });
    if let Err(e) = result {
        log::error!("osimage {name}: cannot record its state: {e}");
    }
}

fn pack(run: &mut Run, params: &Params) -> Result<Finish, String> {
    let info = read(run.app, run.db, |store| {
        osimage::info(store, &params.osimage)
    })
    .map_err(|e| e.to_string())?;
    let settings = settings(run)?;
    set_state(
        run,
        &info.name,
        "packing",
        &format!("{} packing", info.name),
    );
    let image = Image {
        name: info.name.clone(),
        path: PathBuf::from(&info.path),
        kernelversion: info.kernelversion.clone(),
    };
    // Each step reaches the requester's messages and the image's monitored
    // state as it happens.
    let packed = images::pack(&settings, &image, &mut |m| {
        run.message(200, &format!("osimage {}: {m}", info.name));
        set_state(
            run,
            &info.name,
            "packing",
            &format!("{} packing: {m}", info.name),
        );
    });
    let packed = match packed {
        Ok(p) => p,
        Err(e) => {
            set_state(
                run,
                &info.name,
                "failed",
                &format!("{} pack failed: {e}", info.name),
            );
            return Err(e);
        }
    };
    let name = info.name.clone();
    let files = settings.files.clone();
    let Packed {
        kernelversion,
        kernelfile,
        initrdfile,
        imagefile,
        info_hash,
    } = packed;
    if let Some(hash) = info_hash {
        run.app.tracker().allow(hash);
    }
    let message = format!("osimage {name} packed: {kernelfile}, {initrdfile}, {imagefile}");
    let made = vec![
        files.join(&kernelfile),
        files.join(&initrdfile),
        files.join(&imagefile),
        files.join(format!("{imagefile}.torrent")),
    ];
    Ok(Finish {
        message,
        made,
        apply: Some(Box::new(move |store| {
            let stale = osimage::set_packed(
                store,
                &name,
                &kernelversion,
                &kernelfile,
                &initrdfile,
                &imagefile,
            )?;
            osimage::set_state(store, "osimage", &name, "built", &format!("{name} ok"))?;
            Ok(stale.into_iter().map(|f| files.join(f)).collect())
        })),
    })
}

/// The rsync settings from the configuration.
fn rsync_settings(run: &Run) -> rsync::Settings {
    let cfg = run.app.config();
    rsync::Settings {
        transport: match cfg.rsync_transport.as_str() {
            "daemon" => rsync::Transport::Daemon {
                module: cfg.rsync_module.clone(),
                port: cfg.rsync_port,
            },
            _ => rsync::Transport::Ssh {
                options: vec![
                    "-o".into(),
                    "BatchMode=yes".into(),
                    "-o".into(),
                    "ConnectTimeout=10".into(),
                ],
            },
        },
        limit: std::time::Duration::from_secs(3600),
    }
}

fn grab(run: &mut Run, params: &Params) -> Result<Finish, String> {
    let node = params.nodes.first().cloned().unwrap_or_default();
    let (info, addresses) = read(run.app, run.db, |store| {
        Ok((
            osimage::info(store, &params.osimage)?,
            osimage::provisioning_addresses(store, std::slice::from_ref(&node))?,
        ))
    })
    .map_err(|e| e.to_string())?;
    let ip = addresses
        .first()
        .and_then(|p| p.ip.clone())
        .ok_or_else(|| format!("node {node} has no provisioning address"))?;
    let trees = Trees::from_settings(
        info.grab_filesystems.as_deref(),
        info.grab_exclude.as_deref(),
    )?;
    std::fs::create_dir_all(&info.path).map_err(|e| format!("{}: {e}", info.path))?;
    set_state(
        run,
        &info.name,
        "grabbing",
        &format!("{} grabbing from {node}", info.name),
    );
    let summary = rsync::run(
        &rsync_settings(run),
        Direction::FromNode,
        &ip,
        Path::new(&info.path),
        &trees,
        params.dry_run,
    );
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let state = format!("{} grab from {node} failed: {e}", info.name);
            set_state(run, &info.name, "failed", &state);
            return Err(e);
        }
    };
    let state = format!("{} grabbed from {node}: {summary}", info.name);
    set_state(run, &info.name, "grabbed", &state);
    run.message(
        200,
        &format!("grab from {node} into {}: {summary}", info.name),
    );
    if params.dry_run || params.bare {
        return Ok(Finish::message(format!(
            "grab from {node} into osimage {}: {summary}",
            info.name
        )));
    }
    pack(run, params)
}

fn push(run: &mut Run, params: &Params) -> Result<Finish, String> {
    let (info, addresses) = read(run.app, run.db, |store| {
        Ok((
            osimage::info(store, &params.osimage)?,
            osimage::provisioning_addresses(store, &params.nodes)?,
        ))
    })
    .map_err(|e| e.to_string())?;
    let trees = Trees::from_settings(
        info.grab_filesystems.as_deref(),
        info.grab_exclude.as_deref(),
    )?;
    let settings = rsync_settings(run);
    let image = PathBuf::from(&info.path);
    if !image.is_dir() {
        return Err(format!("the image directory {} does not exist", info.path));
    }
    let mut ok = 0usize;
    let mut failed = 0usize;
    set_state(
        run,
        &info.name,
        "pushing",
        &format!("{} pushing to {} nodes", info.name, addresses.len()),
    );
    for batch in addresses.chunks(PUSH_PARALLEL) {
        let results: Vec<(String, Result<String, String>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|p| {
                    let (settings, trees, image) = (&settings, &trees, &image);
                    let dry = params.dry_run;
                    scope.spawn(move || match &p.ip {
                        Some(ip) => rsync::run(settings, Direction::ToNode, ip, image, trees, dry),
                        None => Err(format!("node {} has no provisioning address", p.node)),
                    })
                })
                .collect();
            batch
                .iter()
                .zip(handles)
                .map(|(p, h)| {
                    (
                        p.node.clone(),
                        h.join().unwrap_or_else(|_| Err("internal error".into())),
                    )
                })
                .collect()
        });
        for (node, result) in results {
            match result {
                Ok(summary) => {
                    ok += 1;
                    run.message(200, &format!("push of {} to {node}: {summary}", info.name));
                }
                Err(e) => {
                    failed += 1;
                    run.message(500, &format!("push of {} to {node} failed: {e}", info.name));
                }
            }
        }
    }
    let summary = format!(
        "osimage {} pushed to {ok} nodes, {failed} failed",
        info.name
    );
    let status = if failed == 0 { "pushed" } else { "failed" };
    set_state(run, &info.name, status, &summary);
    if ok == 0 && failed > 0 {
        return Err(summary);
    }
    Ok(Finish::message(summary))
}

/// Copies an image tree: a reflink copy where the filesystem can, else a
/// plain one, into `<dst>.partial`, renamed to `dst` when complete; a failed
/// copy leaves nothing. The target must not exist yet.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), String> {
    if !src.is_dir() {
        return Err(format!("{} does not exist", src.display()));
    }
    if dst.exists() {
        return Err(format!(
            "cannot copy the image to {}: it exists",
            dst.display()
        ));
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let partial = PathBuf::from(format!("{}.partial", dst.display()));
    let _ = std::fs::remove_dir_all(&partial);
    let (s, d) = (src.display().to_string(), partial.display().to_string());
    let limit = std::time::Duration::from_secs(3600);
    for reflink in ["--reflink=always", "--reflink=never"] {
        let ran = crate::services::run_for("cp", &["-a", reflink, "--", &s, &d], limit);
        if ran == Ok(0) {
            return std::fs::rename(&partial, dst).map_err(|e| {
                let _ = std::fs::remove_dir_all(&partial);
                format!("{}: {e}", dst.display())
            });
        }
        let _ = std::fs::remove_dir_all(&partial);
    }
    Err(format!("copying {s} to {} failed", dst.display()))
}

/// Used by `cmdb` callers that name an image's files for removal.
pub fn remove(paths: &[PathBuf]) {
    for p in paths {
        if let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) {
            images::remove_files(dir, &[name.to_string()]);
        }
    }
}
