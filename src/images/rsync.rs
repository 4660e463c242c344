//! Copying an image tree from a node (grab) and to nodes (push) with rsync.
//!
//! The node is reached by its provisioning address, over `ssh` (upstream's
//! way: root's keys on the controller) or an rsync daemon on the node
//! (`[FILES] RSYNC_TRANSPORT = daemon`, module `RSYNC_MODULE` on
//! `RSYNC_PORT`). Per filesystem of the image's `grab_filesystems`, relative
//! paths (`-R` with a `/./` marker) keep the tree's layout; `--one-file-system`
//! keeps other mounts out; grab deletes what the node no longer has.

use std::path::Path;
use std::time::Duration;

use crate::services::Cmd;

/// How nodes are reached.
#[derive(Clone, Debug)]
pub enum Transport {
    /// `rsync -e ssh`, `root@<ip>:/`.
    Ssh { options: Vec<String> },
    /// `rsync://<ip>:<port>/<module>/`
    Daemon { module: String, port: u16 },
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub transport: Transport,
    pub limit: Duration,
}

/// Grab or push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    FromNode,
    ToNode,
}

/// Filesystems and excludes of an image, parsed from its settings
/// (separators: space, comma, newline).
#[derive(Clone, Debug)]
pub struct Trees {
    pub filesystems: Vec<String>,
    pub excludes: Vec<String>,
}

/// What is never copied from a running node when the image names nothing.
const DEFAULT_EXCLUDES: &[&str] = &[
    "/proc/*",
    "/sys/*",
    "/dev/*",
    "/run/*",
    "/tmp/*",
    "/var/tmp/*",
    "/var/log/*",
];

impl Trees {
    pub fn from_settings(
        filesystems: Option<&str>,
        excludes: Option<&str>,
    ) -> Result<Trees, String> {
        let split = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("")
                .split([' ', ',', '\n', '\t'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut filesystems = split(filesystems);
        if filesystems.is_empty() {
            filesystems.push("/".into());
        }
        let mut excludes = split(excludes);
        if excludes.is_empty() {
            excludes = DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect();
        }
        for p in filesystems.iter().chain(&excludes) {
            let ok = p.starts_with('/')
                && !p.split('/').any(|seg| seg == "..")
                && !p.chars().any(char::is_control);
            if !ok {
                return Err(format!(
                    "invalid path '{}' in grab_filesystems or grab_exclude: absolute paths without '..' expected",
                    p.escape_default()
                ));
            }
        }
        Ok(Trees {
            filesystems,
            excludes,
        })
    }
}

/// The remote side's base for `ip`.
fn remote(settings: &Settings, ip: &str) -> String {
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    match &settings.transport {
        Transport::Ssh { .. } => format!("root@{host}:"),
        Transport::Daemon { module, port } => format!("rsync://{host}:{port}/{module}"),
    }
}

/// The rsync argument vectors for one node, one per filesystem.
pub fn commands(
    settings: &Settings,
    direction: Direction,
    ip: &str,
    image: &Path,
    trees: &Trees,
    dry_run: bool,
) -> Vec<Vec<String>> {
    let base = remote(settings, ip);
    let image = image.display().to_string();
    trees
        .filesystems
        .iter()
        .map(|fs| {
            let mut args: Vec<String> = vec![
                if dry_run { "-aHvRn" } else { "-aHvR" }.into(),
                "--numeric-ids".into(),
                "--one-file-system".into(),
            ];
            if direction == Direction::FromNode {
                args.push("--delete-after".into());
            }
            if let Transport::Ssh { options } = &settings.transport {
                let mut ssh = vec!["ssh".to_string()];
                ssh.extend(options.iter().cloned());
                args.push("-e".into());
                args.push(ssh.join(" "));
            }
            args.extend(trees.excludes.iter().map(|e| format!("--exclude={e}")));
            let rel = fs.trim_start_matches('/');
            let (src, dst) = match direction {
                Direction::FromNode => (format!("{base}/./{rel}"), format!("{image}/")),
                Direction::ToNode => (format!("{image}/./{rel}"), format!("{base}/")),
            };
            args.push(src);
            args.push(dst);
            args
        })
        .collect()
}

/// Runs the copy for one node; answers a summary line, or why it failed.
pub fn run(
    settings: &Settings,
    direction: Direction,
    ip: &str,
    image: &Path,
    trees: &Trees,
    dry_run: bool,
) -> Result<String, String> {
    let mut changed = 0usize;
    for args in commands(settings, direction, ip, image, trees, dry_run) {
        let out = Cmd::new("rsync")
            .args(args.iter().map(String::as_str))
            .limit(settings.limit)
            .run()?;
        if out.code != 0 {
            return Err(format!(
                "rsync exited {}: {}",
                out.code,
                out.stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
            ));
        }
        // -v lists one line per file between the header and the summary.
        changed += out
            .stdout
            .lines()
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with("sending ")
                    && !l.starts_with("receiving ")
                    && !l.starts_with("sent ")
                    && !l.starts_with("total size")
                    && !l.starts_with("created directory")
                    && !l.ends_with('/')
            })
            .count();
    }
    Ok(format!(
        "{changed} files {}{}",
        match direction {
            Direction::FromNode => "grabbed",
            Direction::ToNode => "pushed",
        },
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grab_and_push_commands() {
        let settings = Settings {
            transport: Transport::Daemon {
                module: "root".into(),
                port: 8730,
            },
            limit: Duration::from_secs(60),
        };
        let trees = Trees::from_settings(Some("/, /var"), Some("/proc/*")).unwrap();
        let grab = commands(
            &settings,
            Direction::FromNode,
            "127.0.90.1",
            Path::new("/img/c"),
            &trees,
            true,
        );
        assert_eq!(grab.len(), 2);
        assert_eq!(grab[0][0], "-aHvRn");
        assert!(grab[0].contains(&"--delete-after".to_string()));
        assert_eq!(
            grab[1][grab[1].len() - 2..],
            ["rsync://127.0.90.1:8730/root/./var", "/img/c/"]
        );
        let push = commands(
            &settings,
            Direction::ToNode,
            "127.0.90.1",
            Path::new("/img/c"),
            &trees,
            false,
        );
        assert_eq!(push[0][0], "-aHvR");
        assert!(!push[0].contains(&"--delete-after".to_string()));
        assert_eq!(
            push[0][push[0].len() - 2..],
            ["/img/c/./", "rsync://127.0.90.1:8730/root/"]
        );
    }

    #[test]
    fn paths_must_be_absolute_and_stay_put() {
        assert!(Trees::from_settings(Some("var"), None).is_err());
        assert!(Trees::from_settings(Some("/var/../etc"), None).is_err());
        assert!(Trees::from_settings(None, Some("/x\n/../y")).is_err());
        let t = Trees::from_settings(None, None).unwrap();
        assert_eq!(t.filesystems, ["/"]);
        assert!(t.excludes.contains(&"/proc/*".to_string()));
    }
}
