//! Running other programs: the service manager, config validators, `cp`,
//! LDAP tools, `ipmitool`, `curl`. Commands are argument vectors, never shell
//! strings; each has a time limit, after which it is killed. Secrets go in
//! through the environment or standard input, never on the command line, where
//! any local user sees them (`ps`).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::Config;

/// How long a command may run unless told otherwise.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command left: its exit code (-1 when killed by a signal)
/// and what it printed.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One command to run: `Cmd::new("ipmitool").args([...]).env(...).run()`.
pub struct Cmd<'a> {
    program: &'a str,
    args: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
    input: Option<&'a str>,
    limit: Duration,
}

impl<'a> Cmd<'a> {
    pub fn new(program: &'a str) -> Cmd<'a> {
        Cmd {
            program,
            args: Vec::new(),
            env: Vec::new(),
            input: None,
            limit: COMMAND_TIMEOUT,
        }
    }

    pub fn args(mut self, args: impl IntoIterator<Item = &'a str>) -> Cmd<'a> {
        self.args.extend(args);
        self
    }

    /// An environment variable for the command only (a password for `-E`).
    pub fn env(mut self, key: &'a str, value: &'a str) -> Cmd<'a> {
        self.env.push((key, value));
        self
    }

    /// Text written to the command's standard input.
    pub fn input(mut self, text: &'a str) -> Cmd<'a> {
        self.input = Some(text);
        self
    }

    pub fn limit(mut self, limit: Duration) -> Cmd<'a> {
        self.limit = limit;
        self
    }

    /// Runs the command to its end or its time limit, capturing its output.
    /// The command leads a process group of its own, so the time limit kills
    /// what it started too (dracut's helpers, rsync's ssh).
    pub fn run(self) -> Result<Output, String> {
        use std::os::unix::process::CommandExt;
        let program = self.program;
        let mut command = Command::new(program);
        // luna2d's own umask (077) is for its own files; what a command makes
        // (in an image, a node's tree, a service's directory) gets the usual
        // modes.
        // SAFETY: umask is async-signal-safe and touches nothing shared.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let mut child = command
            .process_group(0)
            .args(&self.args)
            .envs(self.env.iter().copied())
            .stdin(if self.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if let (Some(text), Some(mut stdin)) = (self.input, child.stdin.take()) {
            use std::io::Write;
            // Small (a config, an LDIF, a password): written whole before the
            // output is read, then closed so the command sees its end.
            if let Err(e) = stdin.write_all(text.as_bytes()) {
                kill_group(child.id());
                let _ = child.wait();
                return Err(format!("{program}: {e}"));
            }
        }
        let pid = child.id();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(self.limit) {
            Ok(Ok(out)) => Ok(Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
            Ok(Err(e)) => Err(format!("{program}: {e}")),
            Err(_) => {
                kill_group(pid);
                Err(format!(
                    "{program} did not finish within {}s",
                    self.limit.as_secs_f32()
                ))
            }
        }
    }
}

/// Kills the process group led by `pid` (a child started by `Cmd`, not yet
/// reaped: its waiter reaps it after the kill).
pub fn kill_group(pid: u32) {
    // SAFETY: a signal to a process group we created; at worst it is gone.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// Runs `COMMAND status <unit>`; true when it exits 0.
pub fn status(cfg: &Config, unit: &str) -> Result<bool, String> {
    run(&cfg.service_command, &["status", unit]).map(|code| code == 0)
}

/// Runs `program args...` and returns its exit code.
pub fn run(program: &str, args: &[&str]) -> Result<i32, String> {
    run_for(program, args, COMMAND_TIMEOUT)
}

/// `run` with another time limit.
pub fn run_for(program: &str, args: &[&str], limit: Duration) -> Result<i32, String> {
    Cmd::new(program)
        .args(args.iter().copied())
        .limit(limit)
        .run()
        .map(|out| out.code)
}

/// Like `run`, but also returns what the command printed (stdout and stderr),
/// for validators whose complaints should reach the admin.
pub fn run_capture(program: &str, args: &[&str]) -> Result<(i32, String), String> {
    run_input(program, args, None).map(|(code, out, err)| (code, out + &err))
}

/// Runs `program args...` with `input` on its standard input; returns the exit
/// code, standard output and standard error.
pub fn run_input(
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<(i32, String, String), String> {
    let mut cmd = Cmd::new(program).args(args.iter().copied());
    if let Some(text) = input {
        cmd = cmd.input(text);
    }
    cmd.run().map(|out| (out.code, out.stdout, out.stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_get_the_usual_umask_not_luna2ds() {
        // SAFETY: umask only; the test process's mask is restored below.
        let before = unsafe { libc::umask(0o077) };
        let out = Cmd::new("sh").args(["-c", "umask"]).run();
        unsafe {
            libc::umask(before);
        }
        let out = out.expect("sh runs");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout.trim(), "0022");
    }
}
