//! `cargo xtask shell`: build the penguin shell as a fully static binary, then check
//! it the way the article runs `ldd`: read the ELF headers and refuse anything that
//! asks for a program interpreter or a shared library.
//!
//! The build is `cargo build -p penguinshell --profile shell --target
//! x86_64-unknown-linux-musl`: the `[profile.shell]` of the root Cargo.toml tunes for
//! size, `.cargo/config.toml` asks for `crt-static` and the static relocation model.

use crate::util::{cargo, describe, output_of};
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target the image's shell is built for.
pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The size-tuned cargo profile (root Cargo.toml).
pub const PROFILE: &str = "shell";

/// Arguments of `cargo xtask shell`.
#[derive(clap::Args)]
pub struct Args {}

/// Builds and checks the static shell, then prints its path.
pub fn run(_args: Args) -> Result<PathBuf> {
    let path = build_static_shell()?;
    let size = std::fs::metadata(&path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    eprintln!("static: no program interpreter, no shared libraries ({size} bytes)");
    println!("{}", path.display());
    Ok(path)
}

/// Builds `penguinshell` for [`TARGET`] with the [`PROFILE`] profile (adding the
/// rustup target if it is missing), checks that the result is static, and returns
/// the path of the binary.
pub fn build_static_shell() -> Result<PathBuf> {
    if let Some(path) = up_to_date_shell() {
        check_static(&path)?;
        return Ok(path);
    }
    ensure_rust_target(TARGET)?;
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--package",
        "penguinshell",
        "--bin",
        "penguinshell",
        "--profile",
        PROFILE,
        "--target",
        TARGET,
        "--message-format",
        "json-render-diagnostics",
    ])
    // Our own stdin belongs to the shell `cargo xtask chroot` runs next; cargo's
    // progress and errors go straight to the terminal, its JSON comes to us.
    .stdin(Stdio::null())
    .stderr(Stdio::inherit());
    let json = output_of(&mut cmd)?;
    let path = built_executable(&json, "penguinshell")
        .with_context(|| format!("{} reported no penguinshell executable", describe(&cmd)))?;
    check_static(&path)?;
    let stamp = built_stamp(&path);
    std::fs::write(&stamp, b"").with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(path)
}

/// The built shell, if it is newer than everything it is built from (the crate's sources,
/// build script and linker script, the workspace manifest, the lock file and the cargo
/// config): then even cargo's own no-op check, most of the time of an unchanged
/// `cargo xtask image`, is skipped.
fn up_to_date_shell() -> Option<PathBuf> {
    let root = crate::util::project_root();
    let binary = ::tests::tools::target_dir()
        .join(TARGET)
        .join(PROFILE)
        .join("penguinshell");
    let built = std::fs::metadata(built_stamp(&binary))
        .ok()?
        .modified()
        .ok()?;
    let mut inputs = vec![
        binary.clone(),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join(".cargo/config.toml"),
        root.join("penguinshell/Cargo.toml"),
        root.join("penguinshell/build.rs"),
    ];
    let mut dirs = vec![
        root.join("penguinshell/src"),
        root.join("penguinshell/link"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).ok()? {
            let path = entry.ok()?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                inputs.push(path);
            }
        }
    }
    for input in inputs {
        let changed = std::fs::metadata(&input).ok()?.modified().ok()?;
        if changed > built {
            return None;
        }
    }
    Some(binary)
}

/// Touched after each successful build of `binary`: cargo leaves an unchanged binary alone.
fn built_stamp(binary: &Path) -> PathBuf {
    binary.with_extension("built")
}

/// Adds `target` with rustup unless `rustup target list --installed` shows it.
pub fn ensure_rust_target(target: &str) -> Result<()> {
    let installed = output_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("rustup is needed to add the musl target")?;
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    eprintln!("adding the rust target {target}");
    output_of(Command::new("rustup").args(["target", "add", target]))?;
    Ok(())
}

/// The `executable` of the `compiler-artifact` message for binary `name` in cargo's
/// JSON output.
fn built_executable(json_lines: &str, name: &str) -> Option<PathBuf> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == name)
        .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// How an ELF file links: what `ldd` would tell.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linkage {
    /// The program interpreter (`PT_INTERP`), e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<String>,
    /// The shared libraries it needs (`DT_NEEDED`), e.g. `libc.so.6`.
    pub needed: Vec<String>,
}

/// Fails unless the ELF file at `path` is static: no program interpreter and no
/// needed shared libraries. The error names the path and what it asks for.
pub fn check_static(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let linkage = read_linkage(&bytes)
        .with_context(|| format!("cannot read the ELF headers of {}", path.display()))?;
    if let Some(interpreter) = &linkage.interpreter {
        bail!(
            "{} is dynamically linked (program interpreter {interpreter}, needs {}): \
             it cannot run alone in the image",
            path.display(),
            if linkage.needed.is_empty() {
                "no libraries".to_string()
            } else {
                linkage.needed.join(", ")
            }
        );
    }
    if !linkage.needed.is_empty() {
        bail!(
            "{} is dynamically linked (needs {}): it cannot run alone in the image",
            path.display(),
            linkage.needed.join(", ")
        );
    }
    Ok(())
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// Reads the program interpreter and the needed libraries of a 64-bit
/// little-endian ELF file (x86_64, aarch64) from its program headers.
pub fn read_linkage(elf: &[u8]) -> Result<Linkage> {
    ensure!(elf.get(..4) == Some(b"\x7fELF"), "not an ELF file");
    ensure!(
        elf[4] == 2 && elf[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let phoff = u64_at(elf, 0x20)? as usize;
    let phentsize = u16_at(elf, 0x36)? as usize;
    let phnum = u16_at(elf, 0x38)? as usize;

    struct Segment {
        kind: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
    }
    let segments = (0..phnum)
        .map(|i| {
            let ph = phoff + i * phentsize;
            Ok(Segment {
                kind: u32_at(elf, ph)?,
                offset: u64_at(elf, ph + 0x08)?,
                vaddr: u64_at(elf, ph + 0x10)?,
                filesz: u64_at(elf, ph + 0x20)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut linkage = Linkage::default();
    for seg in &segments {
        match seg.kind {
            PT_INTERP => {
                let raw = slice(elf, seg.offset, seg.filesz)?;
                let text = raw.split(|&b| b == 0).next().unwrap_or_default();
                linkage.interpreter = Some(String::from_utf8_lossy(text).into_owned());
            }
            PT_DYNAMIC => {
                let dynamic = slice(elf, seg.offset, seg.filesz)?;
                let (mut strtab, mut needed) = (None, Vec::new());
                for entry in dynamic.chunks_exact(16) {
                    let tag = u64_at(entry, 0)?;
                    let val = u64_at(entry, 8)?;
                    match tag {
                        DT_NULL => break,
                        DT_NEEDED => needed.push(val),
                        DT_STRTAB => strtab = Some(val),
                        _ => {}
                    }
                }
                if needed.is_empty() {
                    continue;
                }
                // DT_STRTAB is an address: find the loaded segment holding it.
                let strtab = strtab.context("DT_NEEDED without DT_STRTAB")?;
                let table = segments
                    .iter()
                    .find(|s| s.kind == PT_LOAD && s.vaddr <= strtab && strtab < s.vaddr + s.filesz)
                    .map(|s| strtab - s.vaddr + s.offset)
                    .context("DT_STRTAB outside every loaded segment")?;
                for name in needed {
                    let start = usize::try_from(table + name)?;
                    let rest = elf
                        .get(start..)
                        .context("DT_NEEDED name past the end of the file")?;
                    let text = rest.split(|&b| b == 0).next().unwrap_or_default();
                    linkage
                        .needed
                        .push(String::from_utf8_lossy(text).into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(linkage)
}

fn slice(elf: &[u8], offset: u64, len: u64) -> Result<&[u8]> {
    let start = usize::try_from(offset)?;
    let end = start
        .checked_add(usize::try_from(len)?)
        .context("segment size overflows")?;
    elf.get(start..end)
        .context("segment past the end of the file")
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let bytes = b
        .get(at..at + 2)
        .context("ELF header past the end of the file")?;
    Ok(u16::from_le_bytes(bytes.try_into()?))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let bytes = b
        .get(at..at + 4)
        .context("ELF header past the end of the file")?;
    Ok(u32::from_le_bytes(bytes.try_into()?))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    let bytes = b
        .get(at..at + 8)
        .context("ELF header past the end of the file")?;
    Ok(u64::from_le_bytes(bytes.try_into()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the real thing, as `cargo xtask shell` does, and checks it twice:
    /// with our own ELF reader and with `file`.
    #[test]
    fn the_built_shell_is_static() {
        let path = build_static_shell().expect("build the static shell");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(read_linkage(&bytes).unwrap(), Linkage::default());
        check_static(&path).unwrap();

        let file = output_of(Command::new("file").arg(&path))
            .expect("`file` is needed (Debian package file)");
        assert!(file.contains("statically linked"), "file says: {file}");

        let out = Command::new(&path)
            .args(["-c", "echo static"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "static\n");
    }

    /// A dynamic binary of the host is refused, naming its path and its interpreter.
    #[test]
    fn a_dynamic_binary_is_refused() {
        let ls = Path::new("/bin/ls");
        let linkage = read_linkage(&std::fs::read(ls).unwrap()).unwrap();
        assert!(linkage.interpreter.as_deref().unwrap().contains("ld-linux"));
        assert!(
            linkage.needed.iter().any(|n| n == "libc.so.6"),
            "{linkage:?}"
        );
        let err = check_static(ls).unwrap_err().to_string();
        assert!(
            err.starts_with("/bin/ls is dynamically linked (program interpreter /lib"),
            "{err}"
        );
        assert!(err.contains("libc.so.6"), "{err}");
    }

    #[test]
    fn a_non_elf_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = format!("{:#}", check_static(&script).unwrap_err());
        assert_eq!(
            err,
            format!(
                "cannot read the ELF headers of {}: not an ELF file",
                script.display()
            )
        );
    }

    #[test]
    fn finds_the_executable_in_cargo_messages() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"rustyline"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"penguinshell"},"executable":"/t/penguinshell"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            built_executable(json, "penguinshell"),
            Some(PathBuf::from("/t/penguinshell"))
        );
        assert_eq!(built_executable(json, "other"), None);
    }
}
