//! OS image files: turning an image directory into what nodes boot (a kernel,
//! an initramfs, a tarball and its torrent in `[FILES] IMAGE_FILES`), and
//! copying trees to and from nodes (`rsync.rs`). Run by jobs (`jobs::osimage`);
//! nothing here reads the database: the job passes the image's settings in
//! and records the outcome through the model.

pub mod rsync;

/// What seeding and the swarm saver need beyond `Daemon`: the tracker.
pub trait Host: crate::daemon::Daemon {
    fn tracker(&self) -> &crate::tracker::Tracker;
}
pub mod seeder;
pub mod swarm;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::services::Cmd;

/// What packing needs to know of an image.
#[derive(Clone, Debug)]
pub struct Image {
    pub name: String,
    pub path: PathBuf,
    /// The kernel to boot; the newest `/boot/vmlinuz-*` when unset.
    pub kernelversion: Option<String>,
}

/// Where and how packing writes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `[FILES] IMAGE_FILES`
    pub files: PathBuf,
    /// `[FILES] MAXPACKAGINGTIME`: the limit on each of dracut and tar.
    pub limit: Duration,
    /// The tracker's announce URL and the HTTP URL base of `/files`, for the
    /// torrent; no torrent is made when `announce` is `None`.
    pub announce: Option<String>,
    pub files_url: Option<String>,
    /// `[FILES] COMPRESSOR`: a name from `COMPRESSORS`, or `auto`.
    pub compressor: String,
}

/// The files a pack produced (names inside `IMAGE_FILES`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packed {
    pub kernelversion: String,
    pub kernelfile: String,
    pub initrdfile: String,
    pub imagefile: String,
    /// The info hash of the image's torrent, when one was made.
    pub info_hash: Option<[u8; 20]>,
}

/// Directories whose contents are never packed: pseudo-filesystems and
/// scratch space (the directories themselves are kept, empty).
const EXCLUDED: &[&str] = &["proc", "sys", "dev", "run", "tmp"];

/// A compressor: its name (`[FILES] COMPRESSOR`), program, arguments (it
/// reads standard input and writes standard output) and the tarball's
/// extension.
pub struct Compressor {
    pub name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    ext: &'static str,
}

/// In the order `auto` tries them: zstd first (all cores, and it passes
/// incompressible data through at hundreds of MB/s where deflate crawls),
/// then pigz, lbzip2, and single-threaded gzip as the last resort.
pub const COMPRESSORS: &[Compressor] = &[
    Compressor {
        name: "zstd",
        program: "zstd",
        args: &["-T0", "-3", "-q", "-c"],
        ext: "tar.zst",
    },
    Compressor {
        name: "pigz",
        program: "pigz",
        args: &["-c"],
        ext: "tar.gz",
    },
    Compressor {
        name: "lbzip2",
        program: "lbzip2",
        args: &["-c"],
        ext: "tar.bz2",
    },
    Compressor {
        name: "gzip",
        program: "gzip",
        args: &["-c"],
        ext: "tar.gz",
    },
];

/// Read from the compressor in turns of this much.
const STREAM_BUFFER: usize = 4 << 20;

/// Packs `img`: kernel, initramfs, tarball (and torrent). `say` receives
/// progress messages for the requester. A failed pack leaves no file behind.
pub fn pack(settings: &Settings, img: &Image, say: &mut dyn FnMut(&str)) -> Result<Packed, String> {
    let mut written = Vec::new();
    let packed = pack_into(settings, img, say, &mut written);
    if packed.is_err() {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
    }
    packed
}

fn pack_into(
    settings: &Settings,
    img: &Image,
    say: &mut dyn FnMut(&str),
    written: &mut Vec<PathBuf>,
) -> Result<Packed, String> {
    let dir = &img.path;
    if !dir.is_dir() {
        return Err(format!(
            "the image directory {} does not exist",
            dir.display()
        ));
    }
    std::fs::create_dir_all(&settings.files)
        .map_err(|e| format!("{}: {e}", settings.files.display()))?;
    let kver = match &img.kernelversion {
        Some(v) if !v.is_empty() => v.clone(),
        _ => newest_kernel(dir)?,
    };
    check_component("kernel version", &kver)?;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stem = format!("{}-{epoch}", img.name);

    // Space first: a full disk is found before anything is written.
    let compressor = compressor(&settings.compressor)?;
    let size = tree_size(dir);
    let free = free_bytes(&settings.files)?;
    // Compressed system trees are well under half their size; upstream
    // checks 45 %.
    if free < size / 2 {
        return Err(format!(
            "not enough space in {}: {} MB free, about {} MB needed for a {} MB image",
            settings.files.display(),
            free >> 20,
            (size / 2) >> 20,
            size >> 20
        ));
    }

    let kernel_src = inside(dir, &format!("boot/vmlinuz-{kver}"))
        .ok_or_else(|| format!("no kernel /boot/vmlinuz-{kver} in the image"))?;
    let kernelfile = format!("{stem}-vmlinuz-{kver}");
    written.push(settings.files.join(&kernelfile));
    install_copy(&kernel_src, &settings.files.join(&kernelfile))?;
    say(&format!("kernel {kver} copied as {kernelfile}"));

    let initrdfile = format!("{stem}-initramfs-{kver}");
    let initrd_src = initramfs(settings, dir, &kver, say)?;
    written.push(settings.files.join(&initrdfile));
    let installed = install_copy(&initrd_src, &settings.files.join(&initrdfile));
    if initrd_src.starts_with(dir.join("tmp")) {
        let _ = std::fs::remove_file(&initrd_src);
    }
    installed?;

    let imagefile = format!("{stem}.{}", compressor.ext);
    say(&format!(
        "packing {} ({} MB) with {}",
        dir.display(),
        size >> 20,
        compressor.name
    ));
    let partial = settings.files.join(format!(".{imagefile}.partial"));
    written.push(partial.clone());
    // Pieces sized for the tarball we expect (about half the tree).
    let piece_length = crate::torrent::piece_length_for(size / 2);
    let pieces = stream_tar(settings, dir, compressor, &partial, piece_length)?;
    let target = settings.files.join(&imagefile);
    written.push(target.clone());
    std::fs::rename(&partial, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    let packed_size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    say(&format!("{imagefile} written ({} MB)", packed_size >> 20));

    let mut info_hash = None;
    if let Some(announce) = &settings.announce {
        let seed = settings
            .files_url
            .as_ref()
            .map(|base| format!("{base}/files/{imagefile}"));
        let made = pieces
            .finish(&imagefile, announce, seed.as_deref())
            .map_err(|e| format!("making the torrent of {imagefile}: {e}"))?;
        let torrent = settings.files.join(format!("{imagefile}.torrent"));
        written.push(torrent.clone());
        write_new(&torrent, &made.bytes)?;
        info_hash = Some(made.info_hash);
        say(&format!(
            "{imagefile}.torrent made ({} pieces of {} KiB)",
            made.pieces,
            made.piece_length >> 10
        ));
    }
    Ok(Packed {
        kernelversion: kver,
        kernelfile,
        initrdfile,
        imagefile,
        info_hash,
    })
}

/// At start: removes what packs killed mid-way left in `files` (the
/// `.<name>.partial` files written before their rename).
pub fn remove_partials(files: &Path) {
    let Ok(entries) = std::fs::read_dir(files) else {
        return;
    };
    for entry in entries.flatten() {
        let partial = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".partial"));
        if partial {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// At start: removes what a pack killed before its end left under final
/// names (a kernel or initramfs copied, a tarball renamed) that no image or
/// tag names: only files named as packing names them
/// (`<image>-<epoch>-vmlinuz-…`, `-initramfs-…`, `.tar.*`, and torrents).
pub fn remove_orphans(files: &Path, in_use: &[String], images: &[String]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(files) else {
        return Vec::new();
    };
    let packed_name = |name: &str| {
        images.iter().any(|img| {
            let Some(rest) = name
                .strip_prefix(img.as_str())
                .and_then(|r| r.strip_prefix('-'))
            else {
                return false;
            };
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let tail = &rest[digits..];
            digits >= 9
                && (tail.starts_with("-vmlinuz-")
                    || tail.starts_with("-initramfs-")
                    || tail.starts_with(".tar."))
        })
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let base = name.strip_suffix(".torrent").unwrap_or(&name);
        if packed_name(base)
            && !in_use.iter().any(|f| f == base)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(name);
        }
    }
    removed
}

/// The info hashes of the torrents in `files` (for the tracker at start).
pub fn torrents_in(files: &Path) -> Vec<[u8; 20]> {
    let Ok(entries) = std::fs::read_dir(files) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(".torrent"))
        })
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| crate::torrent::info_hash_of(&bytes).ok())
        .collect()
}

/// A file name part taken from the image must not leave `IMAGE_FILES`.
fn check_component(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {what} '{}'", s.escape_default()))
    }
}

/// The newest kernel under `<dir>/boot` (by version order of its name).
fn newest_kernel(dir: &Path) -> Result<String, String> {
    let boot = dir.join("boot");
    let mut versions: Vec<String> = std::fs::read_dir(&boot)
        .map_err(|e| format!("no kernel in the image: {}: {e}", boot.display()))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .filter(|v| !v.contains("rescue"))
                .map(str::to_string)
        })
        .collect();
    versions.sort_by(|a, b| version_cmp(a, b));
    versions
        .pop()
        .ok_or_else(|| format!("no kernel (vmlinuz-*) in {}", boot.display()))
}

/// Orders `5.14.0-70` before `5.14.0-162`: digit runs compare as numbers.
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut digits = String::new();
        let mut text = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                if !text.is_empty() {
                    out.push((0, std::mem::take(&mut text)));
                }
                digits.push(c);
            } else {
                if !digits.is_empty() {
                    out.push((digits.parse().unwrap_or(u64::MAX), String::new()));
                    digits.clear();
                }
                text.push(c);
            }
        }
        if !digits.is_empty() {
            out.push((digits.parse().unwrap_or(u64::MAX), String::new()));
        }
        if !text.is_empty() {
            out.push((0, text));
        }
        out
    }
    parts(a).cmp(&parts(b))
}

/// The initramfs for `kver`: built by the image's own dracut in a chroot
/// when the image has dracut and this host may chroot; otherwise the one the
/// image already holds, said so in the messages.
fn initramfs(
    settings: &Settings,
    dir: &Path,
    kver: &str,
    say: &mut dyn FnMut(&str),
) -> Result<PathBuf, String> {
    let has_dracut = ["usr/bin/dracut", "usr/sbin/dracut", "sbin/dracut"]
        .iter()
        .any(|p| dir.join(p).is_file());
    let why_not = if !has_dracut {
        "the image has no dracut".to_string()
    } else {
        let out_name = format!("tmp/luna2d-initramfs-{kver}");
        let dir_str = dir.display().to_string();
        let inside = format!("/{out_name}");
        let _ = std::fs::create_dir_all(dir.join("tmp"));
        let ran = Cmd::new("chroot")
            .args([
                dir_str.as_str(),
                "dracut",
                "--force",
                "--kver",
                kver,
                "--omit",
                "plymouth",
                inside.as_str(),
            ])
            .limit(settings.limit)
            .run();
        match ran {
            Ok(out) if out.code == 0 && dir.join(&out_name).is_file() => {
                say(&format!(
                    "initramfs for {kver} built by dracut in the image"
                ));
                return Ok(dir.join(out_name));
            }
            Ok(out) => format!(
                "dracut in the image failed (exit {}: {})",
                out.code,
                out.stderr.lines().last().unwrap_or("").trim()
            ),
            Err(e) => e,
        }
    };
    let candidates = [
        format!("boot/initramfs-{kver}.img"),
        format!("boot/initrd.img-{kver}"),
        format!("boot/initrd-{kver}"),
        format!("boot/initramfs-{kver}"),
    ];
    for c in &candidates {
        if let Some(p) = inside(dir, c) {
            say(&format!(
                "initramfs taken from the image's /{c}: not built here, {why_not}"
            ));
            return Ok(p);
        }
    }
    Err(format!(
        "no initramfs for {kver}: {why_not}, and the image holds none (/boot/initramfs-{kver}.img or /boot/initrd.img-{kver})"
    ))
}

/// `rel` below the image root `dir` as a regular file that really is inside
/// it: a symlink in the image pointing elsewhere (a node's root could make
/// `/boot/vmlinuz-x` point at the controller's key file) is not followed out.
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let root = dir.canonicalize().ok()?;
    let real = dir.join(rel).canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// The compressor to use: the one named, or with `auto` the first of
/// `COMPRESSORS` installed.
fn compressor(name: &str) -> Result<&'static Compressor, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let installed =
        |c: &Compressor| std::env::split_paths(&path).any(|d| d.join(c.program).is_file());
    if name == "auto" {
        return COMPRESSORS
            .iter()
            .find(|c| installed(c))
            .ok_or_else(|| "no compressor is installed (zstd, pigz, lbzip2 or gzip)".to_string());
    }
    let c = COMPRESSORS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("unknown compressor '{name}'"))?;
    if installed(c) {
        Ok(c)
    } else {
        Err(format!("the compressor {} is not installed", c.program))
    }
}

/// `tar -cf - . | <compressor>` into `out`, the pieces of the output hashed
/// on the way: two processes joined by a pipe, no shell, and no second pass
/// over the tarball for the torrent. Both are killed at the time limit.
fn stream_tar(
    settings: &Settings,
    dir: &Path,
    compressor: &Compressor,
    out: &Path,
    piece_length: u64,
) -> Result<crate::torrent::Pieces, String> {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut args: Vec<String> = vec![
        "-C".into(),
        dir.display().to_string(),
        "--one-file-system".into(),
        "--xattrs".into(),
        "--acls".into(),
        "--numeric-owner".into(),
        "--ignore-failed-read".into(),
    ];
    args.extend(EXCLUDED.iter().map(|d| format!("--exclude=./{d}/*")));
    args.extend(["-cf".into(), "-".into(), ".".into()]);
    let mut tar = Command::new("tar")
        .process_group(0)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let tar_out = tar.stdout.take().ok_or("tar has no output")?;
    let mut zip = match Command::new(compressor.program)
        .process_group(0)
        .args(compressor.args)
        .stdin(Stdio::from(tar_out))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(z) => z,
        Err(e) => {
            let _ = tar.kill();
            let _ = tar.wait();
            return Err(format!("cannot run {}: {e}", compressor.program));
        }
    };
    // The time limit: a watchdog kills both unless told they ended.
    let pids = [tar.id(), zip.id()];
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let limit = settings.limit;
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(limit).is_err() {
            // Not yet reaped: the caller waits for them after this.
            for pid in pids {
                crate::services::kill_group(pid);
            }
            return true;
        }
        false
    });
    let mut tar_err = tar.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(e) = tar_err.as_mut() {
            let _ = e.read_to_string(&mut text);
        }
        text
    });
    let copied = (|| -> Result<crate::torrent::Pieces, String> {
        let mut input = zip.stdout.take().ok_or("the compressor has no output")?;
        let mut file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let mut pieces = crate::torrent::Pieces::new(piece_length);
        let mut buf = vec![0u8; STREAM_BUFFER];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading the compressor: {e}")),
            };
            file.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", out.display()))?;
            pieces.update(&buf[..n]);
        }
        file.sync_all()
            .map_err(|e| format!("{}: {e}", out.display()))?;
        set_mode(out, 0o644)?;
        Ok(pieces)
    })();
    if copied.is_err() {
        let _ = tar.kill();
        let _ = zip.kill();
    }
    let tar_status = tar.wait().map_err(|e| format!("tar: {e}"))?;
    let zip_status = zip
        .wait()
        .map_err(|e| format!("{}: {e}", compressor.program))?;
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let tar_said = err_reader.join().unwrap_or_default();
    if timed_out {
        return Err(format!(
            "packing did not finish within {}s ([FILES] MAXPACKAGINGTIME)",
            limit.as_secs()
        ));
    }
    let pieces = copied?;
    // tar 1: some files changed while being read, which a live tree may do.
    if !matches!(tar_status.code(), Some(0) | Some(1)) {
        return Err(format!(
            "tar failed ({tar_status}): {}",
            tar_said.lines().last().unwrap_or("").trim()
        ));
    }
    if !zip_status.success() {
        return Err(format!("{} failed ({zip_status})", compressor.program));
    }
    Ok(pieces)
}

/// Total size of the regular files under `dir` on its filesystem, without
/// the excluded directories.
fn tree_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::symlink_metadata(dir).map(|m| m.dev()).unwrap_or(0);
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    let mut top = true;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != dev {
                continue;
            }
            if meta.is_dir() {
                let skip = top
                    && entry
                        .file_name()
                        .to_str()
                        .is_some_and(|n| EXCLUDED.contains(&n));
                if !skip {
                    stack.push(entry.path());
                }
            } else if meta.is_file() {
                total += meta.len();
            }
        }
        top = false;
    }
    total
}

/// Bytes available to us on the filesystem of `path`.
fn free_bytes(path: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: bad path", path.display()))?;
    // SAFETY: statvfs fills the struct we own from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!(
            "{}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Copies `src` to `dst` (mode 0644) through a temporary name.
fn install_copy(src: &Path, dst: &Path) -> Result<(), String> {
    let partial = partial_of(dst);
    std::fs::copy(src, &partial).map_err(|e| format!("copying {}: {e}", src.display()))?;
    set_mode(&partial, 0o644)?;
    std::fs::rename(&partial, dst).map_err(|e| format!("{}: {e}", dst.display()))
}

/// Writes `bytes` to `dst` (mode 0644) through a temporary name.
fn write_new(dst: &Path, bytes: &[u8]) -> Result<(), String> {
    let partial = partial_of(dst);
    std::fs::write(&partial, bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    set_mode(&partial, 0o644)?;
    std::fs::rename(&partial, dst).map_err(|e| format!("{}: {e}", dst.display()))
}

fn partial_of(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dst.with_file_name(format!(".{name}.partial"))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Removes files of `IMAGE_FILES` no longer referenced (and their torrents).
pub fn remove_files(files: &Path, names: &[String]) {
    for name in names {
        if check_component("file name", name).is_err() {
            continue;
        }
        for n in [name.clone(), format!("{name}.torrent")] {
            let p = files.join(&n);
            if p.is_file() {
                if let Err(e) = std::fs::remove_file(&p) {
                    log::warn!("cannot remove {}: {e}", p.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_order_numerically() {
        let mut v = vec![
            "5.14.0-162.el9".to_string(),
            "5.14.0-70.el9".to_string(),
            "6.1.0-9-amd64".to_string(),
            "5.4.0".to_string(),
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            ["5.4.0", "5.14.0-70.el9", "5.14.0-162.el9", "6.1.0-9-amd64"]
        );
    }

    #[test]
    fn files_taken_from_the_image_stay_inside_it() {
        let root = std::env::temp_dir().join(format!("luna2d-inside-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::write(root.join("boot/vmlinuz-1"), "k").unwrap();
        std::os::unix::fs::symlink("vmlinuz-1", root.join("boot/vmlinuz-2")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("boot/vmlinuz-3")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("boot/up")).unwrap();
        assert!(inside(&root, "boot/vmlinuz-1").is_some());
        assert!(
            inside(&root, "boot/vmlinuz-2").is_some(),
            "a link inside is fine"
        );
        assert!(
            inside(&root, "boot/vmlinuz-3").is_none(),
            "a link out is not"
        );
        assert!(inside(&root, "boot/up/etc/hostname").is_none());
        assert!(inside(&root, "boot").is_none(), "not a file");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn names_from_the_image_stay_inside_image_files() {
        assert!(check_component("k", "5.14.0-162.el9.x86_64").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b", "x\n"] {
            assert!(check_component("k", bad).is_err(), "{bad:?}");
        }
    }
}
