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
    docker()
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure the Docker Engine answers, starting `dockerd` in the background if needed.
/// Panics (fails the test) with the daemon's log location when it cannot be started.
pub fn ensure_engine() {
    if engine_answers() {
        return;
    }
    // One starter at a time, across test threads and test processes.
    std::fs::create_dir_all(target_dir()).unwrap();
    let lock = File::create(target_dir().join("dockerd-start.lock")).unwrap();
    lock.lock().unwrap();
    if engine_answers() {
        return;
    }
    let dockerd = require("dockerd");
    let log_path = std::env::temp_dir().join("penguinshell-dockerd.log");
    let log = File::create(&log_path).unwrap();
    // setsid: the daemon outlives this test process and its process group.
    Command::new(require("setsid"))
        .arg(dockerd)
        .args(DOCKERD_FLAGS)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start dockerd: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if engine_answers() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "dockerd did not answer within 60 s; see {}",
        log_path.display()
    );
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
