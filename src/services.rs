//! Running the service manager: `[SERVICES] COMMAND <action> <unit>`, with a
//! time limit. Commands are argument vectors, never shell strings, and take
//! nothing from a request but a service name from a fixed list.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Config;

/// How long a service command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `COMMAND status <unit>`; true when it exits 0.
pub fn status(cfg: &Config, unit: &str) -> Result<bool, String> {
    run(&cfg.service_command, &["status", unit]).map(|code| code == 0)
}

/// Runs `program args...` and returns its exit code, killing it after the timeout.
pub fn run(program: &str, args: &[&str]) -> Result<i32, String> {
    run_for(program, args, COMMAND_TIMEOUT)
}

/// `run` with another time limit.
pub fn run_for(program: &str, args: &[&str], limit: Duration) -> Result<i32, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.code().unwrap_or(-1)),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} did not finish within {}s",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("{program}: {e}")),
        }
    }
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
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        // A small LDIF or config: written whole before the output is read.
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let pid = child.id();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(Ok(out)) => Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => {
            // SAFETY: signalling the child we started; at worst it already exited.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            Err(format!(
                "{program} did not finish within {}s",
                COMMAND_TIMEOUT.as_secs()
            ))
        }
    }
}
