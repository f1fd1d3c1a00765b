//! Running foreign binaries through QEMU: binfmt_misc set up the way Debian's
//! qemu-user-static describes it, idempotently.
//!
//! [`ensure_registered`] mounts binfmt_misc when it is not mounted, then registers each
//! architecture's line of `/usr/lib/binfmt.d/qemu-ARCH.conf` unless the kernel already has an
//! enabled entry with the `F` flag (the interpreter opened at registration, so it also works
//! inside containers: `docker run --platform linux/arm64`). `cargo xtask ci` and the tests
//! that run foreign images both call it.

use std::path::Path;
use std::process::Command;

/// Where the kernel's binfmt_misc lives.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";
/// Where Debian's qemu-user-static keeps its registration lines.
pub const BINFMT_D: &str = "/usr/lib/binfmt.d";

/// Makes `qemu-ARCH` (e.g. `aarch64`) run foreign binaries, for each of `arches`. Needs root
/// unless everything is registered already; the error says what is missing.
pub fn ensure_registered(arches: &[&str]) -> Result<(), String> {
    let misc = Path::new(BINFMT_MISC);
    if !misc.join("register").exists() {
        let out = Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_MISC])
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount binfmt_misc on {BINFMT_MISC} (run as root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    for arch in arches {
        register(misc, arch)?;
    }
    Ok(())
}

/// Whether the kernel's entry (the text of `/proc/sys/fs/binfmt_misc/qemu-ARCH`) is enabled
/// and has the `F` flag.
pub fn entry_is_usable(entry: &str) -> bool {
    let enabled = entry.lines().next() == Some("enabled");
    let fixed = entry
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .is_some_and(|flags| flags.contains('F'));
    enabled && fixed
}

/// The registration line of a `qemu-ARCH.conf` file: its first line that is not a comment.
pub fn registration_line(conf: &str) -> Option<&str> {
    conf.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

fn register(misc: &Path, arch: &str) -> Result<(), String> {
    let name = format!("qemu-{arch}");
    let entry = misc.join(&name);
    if let Ok(text) = std::fs::read_to_string(&entry) {
        if entry_is_usable(&text) {
            return Ok(());
        }
        // Disabled, or without F: replace it with Debian's line.
        std::fs::write(&entry, "-1")
            .map_err(|e| format!("cannot remove the binfmt entry {}: {e}", entry.display()))?;
    }
    let conf_path = Path::new(BINFMT_D).join(format!("{name}.conf"));
    let conf = std::fs::read_to_string(&conf_path).map_err(|e| {
        format!(
            "cannot read {}: {e}; install qemu-user-static (cargo xtask ci does)",
            conf_path.display()
        )
    })?;
    let line = registration_line(&conf)
        .ok_or_else(|| format!("{} holds no registration line", conf_path.display()))?;
    std::fs::write(misc.join("register"), line).map_err(|e| {
        format!(
            "cannot register {name} with binfmt_misc (run as root): {e}; the line is in {}",
            conf_path.display()
        )
    })?;
    let text = std::fs::read_to_string(&entry).unwrap_or_default();
    if !entry_is_usable(&text) {
        return Err(format!(
            "{} is registered but not enabled with the F flag: {}",
            entry.display(),
            text.replace('\n', "; ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_and_lines() {
        let entry = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\n";
        assert!(entry_is_usable(entry));
        assert!(!entry_is_usable(&entry.replace("POCF", "POC")));
        assert!(!entry_is_usable(&entry.replace("enabled", "disabled")));
        let conf = "# qemu-aarch64\n\n:qemu-aarch64:M::\\x7f:\\xff:/usr/bin/q:OPF\n";
        assert_eq!(
            registration_line(conf),
            Some(":qemu-aarch64:M::\\x7f:\\xff:/usr/bin/q:OPF")
        );
        assert_eq!(registration_line("# nothing\n"), None);
    }

    /// The real thing: aarch64 registered twice, enabled with the F flag.
    #[test]
    fn registers_aarch64_idempotently() {
        ensure_registered(&["aarch64"]).unwrap();
        ensure_registered(&["aarch64"]).unwrap();
        let text = std::fs::read_to_string(Path::new(BINFMT_MISC).join("qemu-aarch64")).unwrap();
        assert!(entry_is_usable(&text), "{text}");
    }
}
