//! A containerd of the test's own: its root, state and socket in a temporary folder, so it
//! never meets dockerd's; `ctr` talks to it. Stopped (killed) when dropped.

use crate::tools::require;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running containerd.
pub struct Containerd {
    child: Child,
    address: PathBuf,
    _dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts containerd and waits (at most 30 s) until `ctr version` answers on its socket.
    pub fn start() -> std::io::Result<Containerd> {
        let dir = tempfile::Builder::new().prefix("containerd-").tempdir()?;
        let address = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        // no CRI plugin: it needs a CNI setup this test does not use
        std::fs::write(
            &config,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )?;
        let log = std::fs::File::create(dir.path().join("containerd.log"))?;
        let child = Command::new(require("containerd"))
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .arg("--address")
            .arg(&address)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut containerd = Containerd {
            child,
            address,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = containerd
                .ctr()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(containerd);
            }
            if let Some(status) = containerd.child.try_wait()? {
                let log = std::fs::read_to_string(containerd._dir.path().join("containerd.log"))
                    .unwrap_or_default();
                return Err(std::io::Error::other(format!(
                    "containerd exited with {status}: {log}"
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("containerd did not start in 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ctr` against this containerd, in the `penguinshell` namespace.
    pub fn ctr(&self) -> Command {
        let mut cmd = Command::new(require("ctr"));
        cmd.arg("--address")
            .arg(&self.address)
            .args(["--namespace", "penguinshell"]);
        cmd
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
