//! `cargo xtask chroot`: the article's first run of the image, before there is an
//! image. It builds the static shell, lays out the filesystem bundle
//! (`mkdir bin dev etc proc sys`, copy the shell into `bin/`) under
//! `target/image/rootfs`, and runs `/bin/penguinshell` chrooted there, like
//! `sudo chroot image/layer /bin/penguinshell`: fork, chroot, chdir `/`, exec, wait.
//! The task exits with the shell's status. It needs root.

use crate::util::project_root;
use anyhow::{Context, Result, bail};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Uid, chdir, chroot, execv, fork};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The directories of the bundle, as in the article's `mkdir bin dev etc proc sys`.
pub const BUNDLE_DIRS: [&str; 5] = ["bin", "dev", "etc", "proc", "sys"];
/// Where the shell lives in the bundle, and what runs in the container.
pub const SHELL_IN_BUNDLE: &str = "bin/penguinshell";

/// Arguments of `cargo xtask chroot`.
#[derive(clap::Args)]
pub struct Args {}

/// The bundle's root directory: `target/image/rootfs` in the workspace.
pub fn rootfs_dir() -> PathBuf {
    project_root().join("target").join("image").join("rootfs")
}

/// Builds the shell, assembles the bundle and runs the shell chrooted in it;
/// returns the shell's exit status.
pub fn run(_args: Args) -> Result<u8> {
    // Ask for root first: no point building for a run that cannot happen.
    require_root()?;
    let shell = crate::shell::build_static_shell()?;
    let root = rootfs_dir();
    assemble_bundle(&shell, &root)?;
    eprintln!("chroot {} /{SHELL_IN_BUNDLE}", root.display());
    run_chrooted(&root, &format!("/{SHELL_IN_BUNDLE}"))
}

/// Lays out the bundle at `root`, recreated from scratch: exactly
/// `bin/penguinshell` (a copy of `shell`, mode 0755), `dev`, `etc`, `proc`, `sys`.
pub fn assemble_bundle(shell: &Path, root: &Path) -> Result<()> {
    if root.parent().is_none() {
        bail!("refusing to use {} as the bundle root", root.display());
    }
    if root.exists() {
        fs::remove_dir_all(root)
            .with_context(|| format!("cannot remove the old bundle {}", root.display()))?;
    }
    for dir in BUNDLE_DIRS {
        let path = root.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        // 0755 whatever the umask, as in [`penguin_bundle`]
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    }
    let target = root.join(SHELL_IN_BUNDLE);
    fs::copy(shell, &target)
        .with_context(|| format!("cannot copy {} to {}", shell.display(), target.display()))?;
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", target.display()))?;
    Ok(())
}

/// The same bundle as [`assemble_bundle`] lays out, described in memory for packing: the
/// four folders and `bin/` (0755) and the shell at `bin/penguinshell` (0755), its bytes read
/// from `shell` when the layer is written. Nothing is written to disk, and the modes do not
/// depend on the umask.
pub fn penguin_bundle(shell: &Path) -> Result<packer::bundle::Bundle> {
    let mut bundle = packer::bundle::Bundle::new();
    for dir in BUNDLE_DIRS {
        bundle.add_dir(dir, 0o755)?;
    }
    bundle
        .add_file(SHELL_IN_BUNDLE, shell, Some(0o755))
        .with_context(|| format!("cannot add {} to the bundle", shell.display()))?;
    Ok(bundle)
}

/// Fails with a clear message unless we run as root.
pub fn require_root() -> Result<()> {
    if !Uid::effective().is_root() {
        bail!(
            "chroot needs root (the article runs `sudo chroot`): run `sudo -E cargo xtask chroot`"
        );
    }
    Ok(())
}

/// Runs `program` (a path inside `root`) chrooted into `root`, with our stdin,
/// stdout and stderr, and waits for it: its exit status, or 128 + N when a
/// signal N killed it.
pub fn run_chrooted(root: &Path, program: &str) -> Result<u8> {
    require_root()?;
    // Everything the child needs is prepared before fork: after it, the child only
    // makes system calls (no allocation, no locks) until exec.
    let root_c = CString::new(root.as_os_str().as_bytes())
        .with_context(|| format!("{} holds a NUL byte", root.display()))?;
    let program_c = CString::new(program).with_context(|| format!("{program} holds a NUL byte"))?;
    let argv = [program_c.clone()];
    let chroot_failed = format!("error: cannot chroot into {}\n", root.display());
    let exec_failed = format!("error: cannot run {program} inside {}\n", root.display());

    // SAFETY: the child branch only calls async-signal-safe functions
    // (chroot, chdir, execv, write, _exit) on data prepared above.
    match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Child => {
            if chroot(root_c.as_c_str()).is_err() || chdir(c"/").is_err() {
                die(&chroot_failed, 125);
            }
            let _ = execv(program_c.as_c_str(), &argv);
            die(&exec_failed, 127);
        }
        ForkResult::Parent { child } => {
            // Ctrl-C in the terminal is meant for the shell, not for us: like a shell
            // waiting for its foreground job, ignore SIGINT and SIGQUIT meanwhile.
            // SAFETY: SIG_IGN installs no handler code.
            unsafe {
                let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
                let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
            }
            loop {
                match waitpid(child, None).context("cannot wait for the chrooted shell")? {
                    WaitStatus::Exited(_, code) => return Ok(code as u8),
                    WaitStatus::Signaled(_, signal, _) => return Ok(128 + signal as u8),
                    _ => continue,
                }
            }
        }
    }
}

/// In the forked child: say what failed and leave without running any Rust cleanup.
fn die(message: &str, status: i32) -> ! {
    let _ = nix::unistd::write(std::io::stderr(), message.as_bytes());
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(status) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path under `root`, relative, sorted, directories marked with `/`.
    fn tree(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if path.is_dir() {
                    out.push(format!("{rel}/"));
                    stack.push(path);
                } else {
                    out.push(rel);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_bundle_holds_exactly_the_shell_and_four_directories() {
        let dir = tempfile::tempdir().unwrap();
        let shell = dir.path().join("built-shell");
        fs::write(&shell, b"\x7fELF not really").unwrap();
        let root = dir.path().join("image").join("rootfs");
        fs::create_dir_all(root.join("leftover/from/before")).unwrap();

        assemble_bundle(&shell, &root).unwrap();
        assert_eq!(
            tree(&root),
            ["bin/", "bin/penguinshell", "dev/", "etc/", "proc/", "sys/"]
        );
        let copied = root.join(SHELL_IN_BUNDLE);
        assert_eq!(fs::read(&copied).unwrap(), fs::read(&shell).unwrap());
        assert_eq!(
            fs::metadata(&copied).unwrap().permissions().mode() & 0o7777,
            0o755
        );

        // Again: the same result, nothing accumulates.
        assemble_bundle(&shell, &root).unwrap();
        assert_eq!(tree(&root).len(), 6);
    }

    /// What is packed (the bundle in memory) is what `docker import` and the chroot get (the
    /// bundle on disk): the same tar, byte for byte.
    #[test]
    fn the_bundle_in_memory_is_the_bundle_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let shell = dir.path().join("built-shell");
        fs::write(&shell, b"\x7fELF not really").unwrap();
        fs::set_permissions(&shell, fs::Permissions::from_mode(0o700)).unwrap();
        let root = dir.path().join("rootfs");
        assemble_bundle(&shell, &root).unwrap();
        let tar = |b: &packer::bundle::Bundle| {
            packer::layer::write_tar(b, 0, Vec::new(), Path::new("mem")).unwrap()
        };
        let on_disk = tar(&packer::bundle::Bundle::from_dir(&root).unwrap());
        assert_eq!(tar(&penguin_bundle(&shell).unwrap()), on_disk);
        assert_eq!(on_disk.len(), 6 * 512 + 512 + 1024); // 6 headers, the shell, the end
    }

    #[test]
    fn a_missing_shell_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = assemble_bundle(&dir.path().join("nope"), &dir.path().join("root")).unwrap_err();
        assert!(err.to_string().starts_with("cannot copy "), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
