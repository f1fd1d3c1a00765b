//! `cargo xtask shell`: build the penguin shell as a fully static binary for one platform,
//! then check it the way the article runs `ldd`: read the ELF headers and refuse anything
//! that asks for a program interpreter or a shared library, or that is built for another
//! machine than the platform's.
//!
//! The build is `cargo build -p penguinshell --profile shell --target TRIPLE`: the
//! `[profile.shell]` of the root Cargo.toml tunes for size, `.cargo/config.toml` asks for
//! `crt-static`, the static relocation model and rust-lld (no cross C toolchain) for each
//! musl target in [`SHELL_TARGETS`].

use crate::util::{cargo, describe, output_of};
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The size-tuned cargo profile (root Cargo.toml).
pub const PROFILE: &str = "shell";

/// A platform the static shell can be built for here: its musl target and what its ELF
/// header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellTarget {
    /// The image platform, `os/arch[/variant]` as `docker run --platform` takes it.
    pub platform: &'static str,
    /// The rustup target triple.
    pub triple: &'static str,
    /// `e_machine` of the ELF header.
    pub machine: u16,
    /// The machine as `file` names it, for messages.
    pub machine_name: &'static str,
    /// The qemu-user-static interpreter that runs it on another host (`qemu-ARCH-static`).
    pub qemu: &'static str,
}

/// Every platform whose static musl shell builds here, host first; `--platform all`.
pub const SHELL_TARGETS: &[ShellTarget] = &[
    ShellTarget {
        platform: "linux/amd64",
        triple: "x86_64-unknown-linux-musl",
        machine: 62,
        machine_name: "x86-64",
        qemu: "x86_64",
    },
    ShellTarget {
        platform: "linux/arm64",
        triple: "aarch64-unknown-linux-musl",
        machine: 183,
        machine_name: "ARM aarch64",
        qemu: "aarch64",
    },
    ShellTarget {
        platform: "linux/386",
        triple: "i686-unknown-linux-musl",
        machine: 3,
        machine_name: "Intel 80386",
        qemu: "i386",
    },
];

/// Platforms people ask for that cannot be built here, and why (see ARCHITECTURE.md).
const UNBUILDABLE: &[(&str, &str)] = &[
    ("linux/arm/v7", "armv7-unknown-linux-musleabihf"),
    ("linux/arm/v6", "arm-unknown-linux-musleabihf"),
    ("linux/riscv64", "riscv64gc-unknown-linux-musl"),
    ("linux/ppc64le", "powerpc64le-unknown-linux-musl"),
    ("linux/s390x", "s390x-unknown-linux-musl"),
    ("linux/loong64", "loongarch64-unknown-linux-musl"),
    ("linux/mips64le", "mips64el-unknown-linux-muslabi64"),
];

/// The x86_64 target: the image's host platform and the default of `cargo xtask shell`.
pub const HOST: ShellTarget = SHELL_TARGETS[0];
/// The target the host's shell is built for.
pub const TARGET: &str = HOST.triple;

/// `linux/amd64, linux/arm64, linux/386`: what `--platform all` means.
pub fn supported_list() -> String {
    SHELL_TARGETS
        .iter()
        .map(|t| t.platform)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ShellTarget {
    /// The target for a platform (`linux/arm64`, `linux/arm64/v8`) or a triple; one line
    /// naming it and the supported list when it cannot be built here.
    pub fn find(name: &str) -> Result<ShellTarget> {
        let wanted = match name {
            "linux/arm64/v8" => "linux/arm64",
            other => other,
        };
        if let Some(t) = SHELL_TARGETS
            .iter()
            .find(|t| t.platform == wanted || t.triple == wanted)
        {
            return Ok(*t);
        }
        if let Some((platform, triple)) = UNBUILDABLE
            .iter()
            .find(|(p, t)| *p == wanted || *t == wanted)
        {
            bail!(
                "platform {platform} ({triple}) cannot be built here: rustup has no musl standard \
                 library for it (see ARCHITECTURE.md); supported: {}",
                supported_list()
            );
        }
        bail!("unknown platform {name:?}: supported: {}", supported_list())
    }

    /// Whether this machine runs the binary without qemu.
    pub fn is_native(&self) -> bool {
        matches!(
            self.triple,
            "x86_64-unknown-linux-musl" | "i686-unknown-linux-musl"
        ) && cfg!(target_arch = "x86_64")
    }
}

/// Arguments of `cargo xtask shell`.
#[derive(clap::Args)]
pub struct Args {
    /// The musl target triple (or platform, e.g. linux/arm64) to build for
    #[arg(long, value_name = "TRIPLE", default_value = TARGET)]
    target: String,
}

/// Builds and checks the static shell, then prints its path.
pub fn run(args: Args) -> Result<PathBuf> {
    let target = ShellTarget::find(&args.target)?;
    let path = build_shell_for(&target)?;
    let size = std::fs::metadata(&path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    eprintln!(
        "static {}: no program interpreter, no shared libraries ({size} bytes)",
        target.machine_name
    );
    println!("{}", path.display());
    Ok(path)
}

/// Builds the host's shell ([`HOST`]); see [`build_shell_for`].
pub fn build_static_shell() -> Result<PathBuf> {
    build_shell_for(&HOST)
}

/// Builds `penguinshell` for `target` with the [`PROFILE`] profile (adding the rustup
/// target if it is missing), checks that the result is static and built for the target's
/// machine, and returns the path of the binary.
pub fn build_shell_for(target: &ShellTarget) -> Result<PathBuf> {
    if let Some(path) = up_to_date_shell(target) {
        check_static(&path, target)?;
        return Ok(path);
    }
    ensure_rust_target(target.triple)?;
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
        target.triple,
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
    check_static(&path, target)?;
    let stamp = built_stamp(&path);
    std::fs::write(&stamp, b"").with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(path)
}

/// The built shell, if it is newer than everything it is built from (the crate's sources,
/// build script and linker script, the workspace manifest, the lock file and the cargo
/// config): then even cargo's own no-op check, most of the time of an unchanged
/// `cargo xtask image`, is skipped.
fn up_to_date_shell(target: &ShellTarget) -> Option<PathBuf> {
    let binary = ::tests::tools::target_dir()
        .join(target.triple)
        .join(PROFILE)
        .join("penguinshell");
    let built = std::fs::metadata(built_stamp(&binary))
        .ok()?
        .modified()
        .ok()?;
    let binary_changed = std::fs::metadata(&binary).ok()?.modified().ok()?;
    (binary_changed <= built && newest_source()? <= built).then_some(binary)
}

/// When the newest of the shell's inputs changed (the same for every target, so read once).
fn newest_source() -> Option<std::time::SystemTime> {
    static NEWEST: std::sync::OnceLock<Option<std::time::SystemTime>> = std::sync::OnceLock::new();
    *NEWEST.get_or_init(|| {
        let root = crate::util::project_root();
        let mut inputs = vec![
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
        inputs
            .iter()
            .map(|input| std::fs::metadata(input).ok()?.modified().ok())
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    })
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

/// How an ELF file links, and for which machine: what `ldd` and `file` would tell.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linkage {
    /// `e_machine`: 62 x86-64, 183 aarch64, 3 i386.
    pub machine: u16,
    /// The program interpreter (`PT_INTERP`), e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<String>,
    /// The shared libraries it needs (`DT_NEEDED`), e.g. `libc.so.6`.
    pub needed: Vec<String>,
}

/// Fails unless the ELF file at `path` is static (no program interpreter, no needed shared
/// libraries) and built for `target`'s machine. The error names the path and what is wrong.
pub fn check_static(path: &Path, target: &ShellTarget) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let linkage = read_linkage(&bytes)
        .with_context(|| format!("cannot read the ELF headers of {}", path.display()))?;
    if linkage.machine != target.machine {
        bail!(
            "{} is built for ELF machine {} ({}), not {} ({}) as {} needs",
            path.display(),
            linkage.machine,
            machine_name(linkage.machine),
            target.machine,
            target.machine_name,
            target.platform
        );
    }
    let needs = if linkage.needed.is_empty() {
        "no libraries".to_string()
    } else {
        linkage.needed.join(", ")
    };
    match (&linkage.interpreter, linkage.needed.is_empty()) {
        (None, true) => Ok(()),
        (Some(interpreter), _) => bail!(
            "{} is dynamically linked (program interpreter {interpreter}, needs {needs}): \
             it cannot run alone in the image",
            path.display()
        ),
        (None, false) => bail!(
            "{} is dynamically linked (needs {needs}): it cannot run alone in the image",
            path.display()
        ),
    }
}

fn machine_name(machine: u16) -> &'static str {
    SHELL_TARGETS
        .iter()
        .find(|t| t.machine == machine)
        .map_or("another machine", |t| t.machine_name)
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// Where the fields sit in a 32-bit or a 64-bit ELF file.
struct Class {
    wide: bool,
}

impl Class {
    /// An address or offset: 4 or 8 bytes.
    fn word(&self, b: &[u8], at: usize) -> Result<u64> {
        if self.wide {
            u64_at(b, at)
        } else {
            u32_at(b, at).map(u64::from)
        }
    }
    fn phdr_size(&self) -> usize {
        if self.wide { 0x38 } else { 0x20 }
    }
    fn dyn_size(&self) -> usize {
        if self.wide { 16 } else { 8 }
    }
}

/// Reads the machine, the program interpreter and the needed libraries of a 32-bit or 64-bit
/// little-endian ELF file (x86_64, aarch64, i386) from its headers.
pub fn read_linkage(elf: &[u8]) -> Result<Linkage> {
    ensure!(elf.get(..4) == Some(b"\x7fELF"), "not an ELF file");
    let class = match (elf.get(4), elf.get(5)) {
        (Some(1), Some(1)) => Class { wide: false },
        (Some(2), Some(1)) => Class { wide: true },
        _ => bail!("not a little-endian 32-bit or 64-bit ELF file"),
    };
    let machine = u16_at(elf, 0x12)?;
    let (phoff, phentsize, phnum) = if class.wide {
        (u64_at(elf, 0x20)?, u16_at(elf, 0x36)?, u16_at(elf, 0x38)?)
    } else {
        (
            u64::from(u32_at(elf, 0x1c)?),
            u16_at(elf, 0x2a)?,
            u16_at(elf, 0x2c)?,
        )
    };
    let (phoff, phentsize, phnum) = (
        usize::try_from(phoff)?,
        usize::from(phentsize),
        usize::from(phnum),
    );
    ensure!(
        phnum == 0 || phentsize >= class.phdr_size(),
        "program header entries of {phentsize} bytes are too small"
    );

    struct Segment {
        kind: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
    }
    let segments = (0..phnum)
        .map(|i| {
            let ph = phoff
                .checked_add(i * phentsize)
                .context("program headers past the end of the file")?;
            Ok(if class.wide {
                Segment {
                    kind: u32_at(elf, ph)?,
                    offset: u64_at(elf, ph + 0x08)?,
                    vaddr: u64_at(elf, ph + 0x10)?,
                    filesz: u64_at(elf, ph + 0x20)?,
                }
            } else {
                Segment {
                    kind: u32_at(elf, ph)?,
                    offset: u32_at(elf, ph + 0x04)?.into(),
                    vaddr: u32_at(elf, ph + 0x08)?.into(),
                    filesz: u32_at(elf, ph + 0x10)?.into(),
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut linkage = Linkage {
        machine,
        ..Linkage::default()
    };
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
                for entry in dynamic.chunks_exact(class.dyn_size()) {
                    let tag = class.word(entry, 0)?;
                    let val = class.word(entry, class.dyn_size() / 2)?;
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
                    .find(|s| s.kind == PT_LOAD && s.vaddr <= strtab && strtab - s.vaddr < s.filesz)
                    .map(|s| strtab - s.vaddr + s.offset)
                    .context("DT_STRTAB outside every loaded segment")?;
                for name in needed {
                    let start = table
                        .checked_add(name)
                        .and_then(|at| usize::try_from(at).ok())
                        .context("DT_NEEDED name past the end of the file")?;
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

fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N]> {
    let bytes = at
        .checked_add(N)
        .and_then(|end| b.get(at..end))
        .context("ELF header past the end of the file")?;
    Ok(bytes.try_into()?)
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    bytes_at(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    bytes_at(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    bytes_at(b, at).map(u64::from_le_bytes)
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
        assert_eq!(
            read_linkage(&bytes).unwrap(),
            Linkage {
                machine: 62,
                ..Linkage::default()
            }
        );
        check_static(&path, &HOST).unwrap();

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
        let err = check_static(ls, &HOST).unwrap_err().to_string();
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
        let err = format!("{:#}", check_static(&script, &HOST).unwrap_err());
        assert_eq!(
            err,
            format!(
                "cannot read the ELF headers of {}: not an ELF file",
                script.display()
            )
        );
    }

    /// Every platform of `--platform all` builds static, for its own machine, and runs
    /// (natively or under its qemu-user-static interpreter).
    #[test]
    fn each_platform_builds_static_for_its_machine() {
        for target in SHELL_TARGETS {
            let path = build_shell_for(target).expect("build the static shell");
            let linkage = read_linkage(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(
                linkage,
                Linkage {
                    machine: target.machine,
                    ..Linkage::default()
                },
                "{}",
                target.platform
            );
            let mut run = if target.is_native() {
                Command::new(&path)
            } else {
                let mut c = Command::new(::tests::tools::require(&format!(
                    "qemu-{}-static",
                    target.qemu
                )));
                c.arg(&path);
                c
            };
            let out = run.args(["-c", "echo static"]).output().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "static\n",
                "{}",
                target.platform
            );
            // no unwinder and no backtrace symbolizer (penguinshell/src/no_unwind.rs): the
            // libunwind's log messages and gimli's DWARF section names are absent
            let bytes = std::fs::read(&path).unwrap();
            for marker in [&b"libunwind: "[..], b".debug_info.dwo"] {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker),
                    "{}: {} in the static shell",
                    target.platform,
                    String::from_utf8_lossy(marker)
                );
            }
            // the size budget holds on every platform
            use crate::bench::shell::{MAX_BINARY, MAX_GZIPPED};
            let size = std::fs::metadata(&path).unwrap().len();
            let gzipped = Command::new("gzip")
                .args(["-6", "-c"])
                .arg(&path)
                .output()
                .unwrap()
                .stdout
                .len() as u64;
            eprintln!(
                "{}: {size} bytes stripped, {gzipped} gzip -6",
                target.platform
            );
            assert!(
                size <= MAX_BINARY && gzipped <= MAX_GZIPPED,
                "{}: {size} bytes stripped (<= {MAX_BINARY}), {gzipped} gzip -6 (<= {MAX_GZIPPED})",
                target.platform
            );
        }
    }

    /// A small ELF file as a linker would lay it out: the header, the program headers (one
    /// PT_LOAD over the whole file, then PT_INTERP and PT_DYNAMIC when asked for), the
    /// interpreter's path, the string table and the dynamic section.
    fn synthetic_elf(
        wide: bool,
        machine: u16,
        interpreter: Option<&str>,
        needed: &[&str],
    ) -> Vec<u8> {
        const BASE: u64 = 0x40_0000;
        let (ehdr, phdr, dyn_size) = if wide { (64, 0x38, 16) } else { (52, 0x20, 8) };
        let phnum = 1 + usize::from(interpreter.is_some()) + usize::from(!needed.is_empty());
        let interp_at = ehdr + phnum * phdr;
        let interp = interpreter.map(|i| format!("{i}\0")).unwrap_or_default();
        let strtab_at = interp_at + interp.len();
        let mut strtab = vec![0u8];
        let mut names = Vec::new();
        for n in needed {
            names.push(strtab.len() as u64);
            strtab.extend_from_slice(n.as_bytes());
            strtab.push(0);
        }
        let dyn_at = strtab_at + strtab.len();
        let mut dynamic: Vec<(u64, u64)> = names.iter().map(|&n| (DT_NEEDED, n)).collect();
        dynamic.push((DT_STRTAB, BASE + strtab_at as u64));
        dynamic.push((DT_NULL, 0));
        let total = dyn_at + dynamic.len() * dyn_size;

        let word = |out: &mut Vec<u8>, v: u64| {
            if wide {
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
        };
        let mut elf = b"\x7fELF".to_vec();
        elf.extend_from_slice(&[if wide { 2 } else { 1 }, 1, 1]);
        elf.resize(16, 0);
        elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf.extend_from_slice(&machine.to_le_bytes());
        elf.extend_from_slice(&1u32.to_le_bytes());
        word(&mut elf, BASE + ehdr as u64); // entry
        word(&mut elf, ehdr as u64); // phoff
        word(&mut elf, 0); // shoff
        elf.extend_from_slice(&0u32.to_le_bytes()); // flags
        elf.extend_from_slice(&(ehdr as u16).to_le_bytes());
        elf.extend_from_slice(&(phdr as u16).to_le_bytes());
        elf.extend_from_slice(&(phnum as u16).to_le_bytes());
        elf.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
        assert_eq!(elf.len(), ehdr);

        let mut segment = |kind: u32, offset: usize, size: usize| {
            let start = elf.len();
            elf.extend_from_slice(&kind.to_le_bytes());
            if wide {
                elf.extend_from_slice(&5u32.to_le_bytes()); // flags
            }
            word(&mut elf, offset as u64);
            word(&mut elf, BASE + offset as u64); // vaddr
            word(&mut elf, BASE + offset as u64); // paddr
            word(&mut elf, size as u64); // filesz
            word(&mut elf, size as u64); // memsz
            if !wide {
                elf.extend_from_slice(&5u32.to_le_bytes());
            }
            word(&mut elf, 0x1000); // align
            assert_eq!(elf.len() - start, phdr);
        };
        segment(PT_LOAD, 0, total);
        if interpreter.is_some() {
            segment(PT_INTERP, interp_at, interp.len());
        }
        if !needed.is_empty() {
            segment(PT_DYNAMIC, dyn_at, dynamic.len() * dyn_size);
        }
        elf.extend_from_slice(interp.as_bytes());
        elf.extend_from_slice(&strtab);
        for (tag, val) in dynamic {
            word(&mut elf, tag);
            word(&mut elf, val);
        }
        assert_eq!(elf.len(), total);
        elf
    }

    fn check_synthetic(elf: &[u8], target: &ShellTarget) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("elf");
        std::fs::write(&path, elf).unwrap();
        check_static(&path, target)
            .map_err(|e| anyhow::anyhow!(e.to_string().replace(&path.display().to_string(), "ELF")))
    }

    /// The synthetic files read back as written, in both classes; a static one passes.
    #[test]
    fn synthetic_elf_files_read_back() {
        for (wide, target) in [
            (true, HOST),
            (true, SHELL_TARGETS[1]),
            (false, SHELL_TARGETS[2]),
        ] {
            let elf = synthetic_elf(
                wide,
                target.machine,
                Some("/lib/ld.so"),
                &["libc.so", "libm.so"],
            );
            assert_eq!(
                read_linkage(&elf).unwrap(),
                Linkage {
                    machine: target.machine,
                    interpreter: Some("/lib/ld.so".into()),
                    needed: vec!["libc.so".into(), "libm.so".into()],
                }
            );
            check_synthetic(&synthetic_elf(wide, target.machine, None, &[]), &target).unwrap();
        }
    }

    /// A program interpreter alone, with no needed libraries, is still a dynamic binary.
    #[test]
    fn an_interpreter_without_libraries_is_refused() {
        for (wide, target) in [(true, HOST), (false, SHELL_TARGETS[2])] {
            let elf = synthetic_elf(wide, target.machine, Some("/lib/ld-musl.so.1"), &[]);
            let err = check_synthetic(&elf, &target).unwrap_err().to_string();
            assert_eq!(
                err,
                "ELF is dynamically linked (program interpreter /lib/ld-musl.so.1, needs no \
                 libraries): it cannot run alone in the image"
            );
        }
    }

    /// Needed libraries without an interpreter are refused too.
    #[test]
    fn needed_libraries_without_an_interpreter_are_refused() {
        for (wide, target) in [(true, SHELL_TARGETS[1]), (false, SHELL_TARGETS[2])] {
            let elf = synthetic_elf(wide, target.machine, None, &["libc.so.6"]);
            let err = check_synthetic(&elf, &target).unwrap_err().to_string();
            assert_eq!(
                err,
                "ELF is dynamically linked (needs libc.so.6): it cannot run alone in the image"
            );
        }
    }

    /// A static binary for another machine than the platform's is refused, naming both.
    #[test]
    fn a_binary_for_another_machine_is_refused() {
        let arm = SHELL_TARGETS[1];
        let err = check_synthetic(&synthetic_elf(true, 62, None, &[]), &arm)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "ELF is built for ELF machine 62 (x86-64), not 183 (ARM aarch64) as linux/arm64 needs"
        );
        let err = check_synthetic(&synthetic_elf(false, 40, None, &[]), &HOST)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "ELF is built for ELF machine 40 (another machine), not 62 (x86-64) as linux/amd64 needs"
        );
    }

    /// A platform is found by its name or its triple; one that cannot be built here names
    /// itself and the supported list.
    #[test]
    fn platforms_resolve_or_name_the_supported_list() {
        assert_eq!(ShellTarget::find("linux/arm64").unwrap(), SHELL_TARGETS[1]);
        assert_eq!(
            ShellTarget::find("linux/arm64/v8").unwrap(),
            SHELL_TARGETS[1]
        );
        assert_eq!(
            ShellTarget::find("i686-unknown-linux-musl").unwrap(),
            SHELL_TARGETS[2]
        );
        assert_eq!(
            ShellTarget::find("linux/riscv64").unwrap_err().to_string(),
            "platform linux/riscv64 (riscv64gc-unknown-linux-musl) cannot be built here: rustup \
             has no musl standard library for it (see ARCHITECTURE.md); supported: linux/amd64, \
             linux/arm64, linux/386"
        );
        assert_eq!(
            ShellTarget::find("windows/amd64").unwrap_err().to_string(),
            "unknown platform \"windows/amd64\": supported: linux/amd64, linux/arm64, linux/386"
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
