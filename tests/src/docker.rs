//! The real Docker Engine and podman, set up the way they work in this sandbox.
//!
//! [`ensure_engine`] starts `dockerd` when `docker info` does not answer (we are root in CI;
//! there is no init system), with the flags from `shared/ENVIRONMENT.md`. [`podman`] points
//! podman at a `containers.conf` with cgroupfs, runc and the ulimits the sandbox allows.

use crate::tools::{require, target_dir};
use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `dockerd` flags that work in this sandbox.
pub const DOCKERD_FLAGS: &[&str] = &[
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--exec-opt",
    "native.cgroupdriver=cgroupfs",
    "--default-ulimit",
    "nofile=1024:1024",
    "--default-ulimit",
    "nproc=1024:1024",
];

/// `docker ...`.
pub fn docker() -> Command {
    Command::new(require("docker"))
}

fn engine_answers() -> bool {
    let Some(docker) = crate::tools::find_on_path("docker") else {
        return false;
    };
    Command::new(docker)
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure the Docker Engine answers, starting `dockerd` in the background if needed.
/// Panics (fails the test) with the daemon's log location when it cannot be started.
pub fn ensure_engine() {
    if let Err(err) = start_engine() {
        panic!("{err}");
    }
}

/// Starts `dockerd` in the background unless the engine already answers, and waits for it.
pub fn start_engine() -> Result<(), String> {
    if engine_answers() {
        return Ok(());
    }
    // One starter at a time, across test threads and test processes.
    let lock_path = std::env::temp_dir().join("penguinshell-dockerd-start.lock");
    let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    if engine_answers() {
        return Ok(());
    }
    let dockerd = crate::tools::find_on_path("dockerd").ok_or(
        "dockerd is not installed; `cargo xtask ci` installs it (Debian package docker.io)",
    )?;
    let setsid =
        crate::tools::find_on_path("setsid").ok_or("setsid (util-linux) is not installed")?;
    let log_path = std::env::temp_dir().join("penguinshell-dockerd.log");
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    // setsid: the daemon outlives this test process and its process group.
    Command::new(setsid)
        .arg(dockerd)
        .args(DOCKERD_FLAGS)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start dockerd: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if engine_answers() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "dockerd did not answer within 60 s; see {}",
        log_path.display()
    ))
}

/// The `containers.conf` that makes podman work here: cgroupfs, runc, allowed ulimits.
const CONTAINERS_CONF: &str = r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
"#;

/// `podman ...` with the sandbox settings (through `CONTAINERS_CONF`).
pub fn podman() -> Command {
    let conf = target_dir().join("podman-containers.conf");
    if std::fs::read_to_string(&conf).ok().as_deref() != Some(CONTAINERS_CONF) {
        std::fs::create_dir_all(target_dir()).unwrap();
        let tmp = conf.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, CONTAINERS_CONF).unwrap();
        std::fs::rename(&tmp, &conf).unwrap();
    }
    let mut cmd = Command::new(require("podman"));
    cmd.env("CONTAINERS_CONF", conf);
    cmd
}
