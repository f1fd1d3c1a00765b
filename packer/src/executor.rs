//! The Containerfile executor: a parsed Containerfile ([`crate::containerfile`]) becomes a
//! [`Plan`] (a base or scratch, a layer per `COPY`/`ADD` as Docker makes, a config step per
//! metadata instruction) that [`crate::build::build_plan`] writes. Nothing runs: `RUN` and
//! every other instruction that needs a container is refused.
//!
//! The whole file is checked before anything is written: the base is opened, every source is
//! resolved inside the context (no `..` out of it, no symlink out of it), every `ADD`ed archive
//! is read (bounded: entries, bytes, depth; no member leaves the destination or goes through a
//! symlink), every config value is tried on a throwaway config. Errors name the file, the line
//! and the instruction: `Containerfile:3: COPY: penguinshell: No such file or directory`.
//!
//! Docker semantics kept: sources are relative to the context (a leading `/` too), a directory
//! source copies its contents, several sources (or a glob) need a destination ending in `/`, a
//! relative destination is under `WORKDIR`, `--chmod` sets every copied file's and directory's
//! mode, numeric `--chown` their owner (and the folders the copy creates), a local tar (plain or gzip) given to `ADD` is extracted, `ADD` of a URL is refused,
//! `FROM scratch` stages get Docker's default `PATH`. Differences: `.dockerignore` is not read;
//! a single-file destination without `/` is a file even if the base has a folder there; on a
//! base, a layer holds no parent directory it did not create (the base keeps its modes);
//! `WORKDIR` makes a layer holding the folder (as Docker's classic builder does) unless an
//! earlier `WORKDIR` of this build made it, and on a base it cannot tell whether the base has
//! it already (Docker's layer would then be empty); the `COPY file:<hash>` of the history
//! carries the layer's diff id, not Docker's content hash.

use crate::apply::{ConfigEditor, Step};
use crate::base::{BaseImage, host_platform, registry_hint};
use crate::build::{DIFF_ID_HEX, Plan, PlanStep};
use crate::bundle::{Bundle, EntryKind};
use crate::config::Platform;
use crate::containerfile::{ContainerfileError, Instruction, Kind};
use crate::transport::ImageName;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most members one `ADD`ed archive may have.
pub const MAX_ARCHIVE_MEMBERS: usize = 100_000;
/// The most bytes of file content one `ADD`ed archive may unpack to.
pub const MAX_ARCHIVE_BYTES: u64 = 16 << 30;
/// The most path components a member of an `ADD`ed archive may have.
pub const MAX_ARCHIVE_DEPTH: usize = 128;

/// What `RUN` and friends get.
pub const NOTHING_RUNS: &str = "packer builds without running anything";

/// An error at an instruction, before its file and line are known.
type Reason = String;

/// Parses the Containerfile `text` (named `file` in errors) with `build_args`, opens its
/// base, and plans the build over `context`: the base's `Env` is visible to substitution after
/// `FROM`, as in Docker's builder. See [`plan`].
pub fn plan_file(
    text: &str,
    file: &Path,
    build_args: &[(String, String)],
    context: &Path,
    platform: Option<&Platform>,
) -> Result<Plan, ContainerfileError> {
    let first = crate::containerfile::parse(text, file, build_args)?;
    let from = check_shape(&first, file)?;
    let base = open_from_at(&first[from], file, platform)?;
    let env: Vec<(String, String)> = match &base {
        Some(b) => b
            .editor("")
            .map_err(|e| at(file, &first[from], e.to_string()))?
            .container_config()
            .get("Env")
            .and_then(|v| v.as_array())
            .map(|vars| {
                vars.iter()
                    .filter_map(|v| v.as_str()?.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let instructions = if env.is_empty() {
        first
    } else {
        crate::containerfile::parse_with_env(text, file, build_args, &env)?
    };
    let from = check_shape(&instructions, file)?;
    plan_on(&instructions, from, base, file, context, platform)
}

fn at(file: &Path, i: &Instruction, reason: Reason) -> ContainerfileError {
    ContainerfileError {
        file: file.to_path_buf(),
        line: i.line,
        instruction: name(&i.kind).to_owned(),
        reason,
    }
}

/// What needs no file system: refused instructions, one `FROM`, nothing but `ARG` before it,
/// no URL for `ADD`. Returns where `FROM` is.
fn check_shape(instructions: &[Instruction], file: &Path) -> Result<usize, ContainerfileError> {
    let at = |i: &Instruction, reason: Reason| at(file, i, reason);
    let mut from = None;
    for (n, i) in instructions.iter().enumerate() {
        match &i.kind {
            Kind::Unsupported { .. } => return Err(at(i, NOTHING_RUNS.to_owned())),
            Kind::From { .. } if from.is_some() => {
                return Err(at(
                    i,
                    "packer builds one stage; a second FROM starts a multi-stage build".to_owned(),
                ));
            }
            Kind::From { .. } => from = Some(n),
            Kind::Arg { .. } => {}
            _ if from.is_none() => {
                return Err(at(
                    i,
                    "comes before FROM; only ARG may (FROM scratch or FROM an image on disk first)"
                        .to_owned(),
                ));
            }
            Kind::Add { sources, .. } => {
                if let Some(url) = sources.iter().find(|s| is_url(s)) {
                    return Err(at(
                        i,
                        format!(
                            "{url}: packer fetches no URL; download it into the context and ADD the file"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    from.ok_or_else(|| ContainerfileError {
        file: file.to_path_buf(),
        line: instructions.first().map_or(1, |i| i.line),
        instruction: "FROM".to_owned(),
        reason: "no FROM: a Containerfile starts with FROM scratch or FROM an image on disk"
            .to_owned(),
    })
}

fn open_from_at(
    i: &Instruction,
    file: &Path,
    platform: Option<&Platform>,
) -> Result<Option<BaseImage>, ContainerfileError> {
    let Kind::From { source } = &i.kind else {
        unreachable!("check_shape found FROM here")
    };
    open_from(source, platform).map_err(|r| at(file, i, r))
}

/// Turns `instructions` (parsed from `file`) into a plan over `context`. `platform` picks
/// from a base that is an index (default: the host's) and is the platform of a `FROM
/// scratch` image (default: the host's).
pub fn plan(
    instructions: &[Instruction],
    file: &Path,
    context: &Path,
    platform: Option<&Platform>,
) -> Result<Plan, ContainerfileError> {
    let from = check_shape(instructions, file)?;
    let base = open_from_at(&instructions[from], file, platform)?;
    plan_on(instructions, from, base, file, context, platform)
}

fn plan_on(
    instructions: &[Instruction],
    from: usize,
    base: Option<BaseImage>,
    file: &Path,
    context: &Path,
    platform: Option<&Platform>,
) -> Result<Plan, ContainerfileError> {
    let at = |i: &Instruction, reason: Reason| at(file, i, reason);
    let from_inst = &instructions[from];
    let scratch_platform = platform.cloned().unwrap_or_else(host_platform);
    let created = crate::config::rfc3339(0);
    let mut trial = match &base {
        Some(b) => b
            .editor(&created)
            .map_err(|e| at(from_inst, e.to_string()))?,
        None => ConfigEditor::scratch(&scratch_platform, &created),
    };
    let triggers = trial
        .container_config()
        .get("OnBuild")
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len);
    if triggers > 0 {
        return Err(at(
            from_inst,
            format!(
                "the base has {triggers} ONBUILD trigger(s), which Docker would run here; {NOTHING_RUNS}"
            ),
        ));
    }
    let context = Context::new(context).map_err(|r| at(from_inst, r))?;
    let mut steps = Vec::new();
    let mut keep = Vec::new();
    // the folders WORKDIR made in this build (a second WORKDIR there adds no layer)
    let mut workdirs = HashSet::new();
    for i in &instructions[from + 1..] {
        let step = match &i.kind {
            Kind::From { .. } | Kind::Unsupported { .. } => unreachable!("refused above"),
            Kind::Copy {
                sources,
                dest,
                chmod,
                chown,
            }
            | Kind::Add {
                sources,
                dest,
                chmod,
                chown,
            } => {
                let (add, verb) = match i.kind {
                    Kind::Add { .. } => (true, "ADD"),
                    _ => (false, "COPY"),
                };
                let layer = Layer::new(base.is_some(), *chmod, *chown).map_err(|r| at(i, r))?;
                let workdir = workdir(&trial);
                let (bundle, what) = layer
                    .copy(&context, sources, dest, &workdir, add, &mut keep)
                    .map_err(|r| at(i, r))?;
                steps.push(PlanStep::Layer {
                    bundle,
                    created_by: format!("/bin/sh -c #(nop) {verb} {what}:{DIFF_ID_HEX} in {dest} "),
                    comment: None,
                });
                continue;
            }
            Kind::Env(vars) => Step::Env(vars.clone()),
            Kind::Arg { name, default } => Step::Arg {
                name: name.clone(),
                default: default.clone(),
            },
            Kind::Entrypoint(args) => Step::Entrypoint(args.clone()),
            Kind::Cmd(args) => Step::Cmd(args.clone()),
            Kind::Workdir(dir) => {
                let step = Step::Workdir(dir.clone());
                trial.apply(&step).map_err(|e| at(i, e.to_string()))?;
                let resolved = workdir(&trial);
                let path = clean(&resolved).map_err(|r| at(i, r))?;
                if path.is_empty() || !workdirs.insert(path.clone()) {
                    // the folder is there already: Docker commits an empty layer
                    steps.push(PlanStep::Config(step));
                    continue;
                }
                // Docker's builder creates the folder (and its parents) in a layer
                let mut bundle = Bundle::new();
                bundle
                    .add_dir(&path, 0o755)
                    .map_err(|e| at(i, e.to_string()))?;
                if base.is_some() {
                    bundle = bundle.without_implied_dirs();
                }
                steps.push(PlanStep::ConfigOfLayer(step));
                steps.push(PlanStep::Layer {
                    bundle,
                    created_by: format!("/bin/sh -c #(nop) WORKDIR {resolved}"),
                    comment: None,
                });
                continue;
            }
            Kind::User(user) => Step::User(user.clone()),
            Kind::Label(labels) => Step::Label(labels.clone()),
            Kind::Expose(ports) => Step::Expose(ports.clone()),
            Kind::Stopsignal(signal) => Step::StopSignal(signal.clone()),
        };
        // tried on a throwaway config now, so a bad value stops the build before it writes
        trial.apply(&step).map_err(|e| at(i, e.to_string()))?;
        steps.push(PlanStep::Config(step));
    }
    Ok(Plan {
        platform: base
            .as_ref()
            .map_or(scratch_platform, |b| b.platform().clone()),
        base,
        default_path: true,
        steps,
        keep,
    })
}

/// The instruction's name, as written in errors.
fn name(kind: &Kind) -> &str {
    match kind {
        Kind::From { .. } => "FROM",
        Kind::Copy { .. } => "COPY",
        Kind::Add { .. } => "ADD",
        Kind::Env(_) => "ENV",
        Kind::Arg { .. } => "ARG",
        Kind::Entrypoint(_) => "ENTRYPOINT",
        Kind::Cmd(_) => "CMD",
        Kind::Workdir(_) => "WORKDIR",
        Kind::User(_) => "USER",
        Kind::Label(_) => "LABEL",
        Kind::Expose(_) => "EXPOSE",
        Kind::Stopsignal(_) => "STOPSIGNAL",
        Kind::Unsupported { name } => name,
    }
}

fn is_url(s: &str) -> bool {
    ["http://", "https://", "git@", "git://", "ftp://"]
        .iter()
        .any(|p| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
}

/// `FROM scratch` is no base; anything else is an image on disk.
fn open_from(source: &str, platform: Option<&Platform>) -> Result<Option<BaseImage>, Reason> {
    if source == "scratch" {
        return Ok(None);
    }
    let name = ImageName::parse(source).map_err(|e| e.to_string())?;
    if let ImageName::Docker(r) = &name {
        let typed = source.strip_prefix("docker://").unwrap_or(source);
        let shown = if typed.is_empty() {
            r.to_string()
        } else {
            typed.to_owned()
        };
        return Err(registry_hint(&shown));
    }
    BaseImage::open(&name, platform)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The working directory so far (`/` when none).
fn workdir(editor: &ConfigEditor) -> String {
    editor
        .container_config()
        .get("WorkingDir")
        .and_then(|v| v.as_str())
        .filter(|w| !w.is_empty())
        .unwrap_or("/")
        .to_owned()
}

/// The build context: a folder every source must stay inside.
struct Context {
    root: PathBuf,
}

impl Context {
    fn new(dir: &Path) -> Result<Context, Reason> {
        let root = dir
            .canonicalize()
            .map_err(|e| format!("the build context {}: {}", dir.display(), io_reason(&e)))?;
        if !root.is_dir() {
            return Err(format!(
                "the build context {} is not a folder",
                dir.display()
            ));
        }
        Ok(Context { root })
    }

    /// The host paths a source names: one, or a glob's matches (in the last part only),
    /// sorted. Symlinks are followed only while they stay in the context.
    fn resolve(&self, source: &str) -> Result<Vec<PathBuf>, Reason> {
        let mut parts = Vec::new();
        for part in source.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(format!("{source}: outside the build context"));
                    }
                }
                p => parts.push(p),
            }
        }
        let is_glob = |p: &str| p.contains(['*', '?', '[']);
        let Some((last, dirs)) = parts.split_last() else {
            return Ok(vec![self.inside(&self.root, source)?]);
        };
        if dirs.iter().any(|p| is_glob(p)) {
            return Err(format!(
                "{source}: a wildcard may only be in the last part of a source"
            ));
        }
        let dir: PathBuf = dirs.iter().collect();
        if !is_glob(last) {
            return Ok(vec![self.inside(&self.root.join(dir).join(last), source)?]);
        }
        let parent = self.inside(&self.root.join(&dir), source)?;
        let mut found = Vec::new();
        let items =
            std::fs::read_dir(&parent).map_err(|e| format!("{source}: {}", io_reason(&e)))?;
        for item in items {
            let item = item.map_err(|e| format!("{source}: {}", io_reason(&e)))?;
            let file_name = item.file_name();
            if glob_match(last.as_bytes(), file_name.as_encoded_bytes()) {
                found.push(self.inside(&item.path(), source)?);
            }
        }
        if found.is_empty() {
            return Err(format!("{source}: no file in the build context matches"));
        }
        found.sort();
        Ok(found)
    }

    /// `path` with its symlinks resolved, if that stays in the context.
    fn inside(&self, path: &Path, source: &str) -> Result<PathBuf, Reason> {
        let real = path
            .canonicalize()
            .map_err(|e| format!("{source}: {}", io_reason(&e)))?;
        if !real.starts_with(&self.root) {
            return Err(format!(
                "{source}: a symlink that leads outside the build context"
            ));
        }
        Ok(real)
    }
}

/// An `io::Error` as the C library words it (`No such file or directory`), without the
/// `(os error 2)` Rust appends.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// `*`, `?` and `[...]` (with `!` or `^` to negate, `a-z` ranges) over bytes, as Go's
/// `filepath.Match` within one path part.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_match(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob_match(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().skip(1).position(|&b| b == b']').map(|p| p + 1) else {
                return name.first() == Some(&b'[') && glob_match(rest, &name[1..]);
            };
            let Some((&c, tail)) = name.split_first() else {
                return false;
            };
            let (negate, class) = match rest[..end].split_first() {
                Some((b'!' | b'^', class)) => (true, class),
                _ => (false, &rest[..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_match(&rest[end + 1..], tail)
        }
        Some((&p, rest)) => name.first() == Some(&p) && glob_match(rest, &name[1..]),
    }
}

/// One `COPY`/`ADD` layer being assembled.
struct Layer {
    on_base: bool,
    chmod: Option<u32>,
    chown: Option<(u32, u32)>,
    bundle: Bundle,
    /// symlinks this layer holds (an archive member may not go through one)
    symlinks: HashSet<Vec<u8>>,
}

impl Layer {
    fn new(on_base: bool, chmod: Option<u32>, chown: Option<(u32, u32)>) -> Result<Layer, Reason> {
        if let Some(m) = chmod
            && m > 0o7777
        {
            return Err(format!("--chmod={m:o}: a mode is at most 7777"));
        }
        if let Some((u, g)) = chown {
            let max = crate::tar::MAX_OWNER_ID;
            if u > max || g > max {
                return Err(format!("--chown={u}:{g}: a uid or gid is at most {max}"));
            }
        }
        Ok(Layer {
            on_base,
            chmod,
            chown,
            bundle: Bundle::new(),
            symlinks: HashSet::new(),
        })
    }

    /// Copies `sources` to `dest` (relative to `workdir`); `add` extracts local archives.
    /// Returns the bundle and Docker's word for what was copied (`file`, `dir`, `multi`).
    fn copy(
        mut self,
        context: &Context,
        sources: &[String],
        dest: &str,
        workdir: &str,
        add: bool,
        keep: &mut Vec<tempfile::TempDir>,
    ) -> Result<(Bundle, &'static str), Reason> {
        let mut hosts = Vec::new();
        for s in sources {
            hosts.extend(context.resolve(s)?);
        }
        let into_dir = dest.ends_with('/')
            || dest == "."
            || dest.ends_with("/.")
            || dest == ".."
            || dest.ends_with("/..");
        if hosts.len() > 1 && !into_dir {
            return Err(format!(
                "{dest}: with several sources the destination is a folder and ends with /"
            ));
        }
        let dest_abs = if dest.starts_with('/') {
            dest.to_owned()
        } else {
            format!("{workdir}/{dest}")
        };
        let dest_path = clean(&dest_abs)?;
        let what = match hosts.as_slice() {
            [one] if one.is_dir() => "dir",
            [_] => "file",
            _ => "multi",
        };
        for host in &hosts {
            let meta = std::fs::metadata(host)
                .map_err(|e| format!("{}: {}", host.display(), io_reason(&e)))?;
            if meta.is_dir() {
                self.dir_into(host, &dest_path)?;
            } else if add && let Some(format) = archive_format(host)? {
                let tmp =
                    crate::fsutil::temp_dir_in(&std::env::temp_dir()).map_err(|e| e.to_string())?;
                self.extract(host, format, &dest_path, tmp.path())?;
                keep.push(tmp);
            } else {
                let target = if into_dir {
                    join(
                        &dest_path,
                        host.file_name().map_or(&b""[..], |n| n.as_encoded_bytes()),
                    )
                } else {
                    dest_path.clone()
                };
                if target.is_empty() {
                    return Err(format!("{dest}: a file cannot replace /"));
                }
                self.bundle
                    .add_file(&target, host, self.chmod)
                    .map_err(|e| e.to_string())?;
            }
        }
        if hosts.len() > 1 || into_dir || what == "dir" {
            self.explicit_dir(&dest_path)?;
        }
        let mut bundle = if self.on_base {
            self.bundle.without_implied_dirs()
        } else {
            self.bundle
        };
        if let Some((uid, gid)) = self.chown {
            bundle.set_owner(uid, gid).map_err(|e| e.to_string())?;
        }
        Ok((bundle, what))
    }

    /// The destination folder itself: on scratch a 0755 (or `--chmod`) entry, as Docker
    /// creates it; on a base it is left to the base (when the base has it).
    fn explicit_dir(&mut self, path: &[u8]) -> Result<(), Reason> {
        if path.is_empty() || self.on_base {
            return Ok(());
        }
        self.bundle
            .add_dir(path, self.chmod.unwrap_or(0o755))
            .map_err(|e| e.to_string())
    }

    /// A directory source: its contents under `dest`.
    fn dir_into(&mut self, host: &Path, dest: &[u8]) -> Result<(), Reason> {
        let walked = Bundle::from_dir(host).map_err(|e| e.to_string())?;
        for e in walked.entries() {
            let path = join(dest, &e.path);
            let mode = self.chmod.unwrap_or(e.mode);
            let done = match &e.kind {
                EntryKind::File { source } => self.bundle.add_file(&path, source, Some(mode)),
                EntryKind::Dir => self.bundle.add_dir(&path, mode),
                EntryKind::Symlink { target } => self.bundle.add_symlink(&path, target),
                EntryKind::HardLink { target } => {
                    self.bundle.add_hardlink(&path, join(dest, target))
                }
            };
            done.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// A local archive, extracted under `dest` as `ADD` does; file contents are written to
    /// `tmp` (the layer reads them from there).
    fn extract(
        &mut self,
        host: &Path,
        format: ArchiveFormat,
        dest: &[u8],
        tmp: &Path,
    ) -> Result<(), Reason> {
        let shown = host.display();
        let file = std::fs::File::open(host).map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
        let reader: Box<dyn Read> = match format {
            ArchiveFormat::Tar => Box::new(std::io::BufReader::new(file)),
            ArchiveFormat::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                std::io::BufReader::new(file),
            )),
        };
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
        let (mut count, mut bytes) = (0usize, 0u64);
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
            count += 1;
            if count > MAX_ARCHIVE_MEMBERS {
                return Err(format!("{shown}: more than {MAX_ARCHIVE_MEMBERS} members"));
            }
            let raw = entry.path_bytes().into_owned();
            let member = String::from_utf8_lossy(&raw).into_owned();
            let rel = member_path(&raw)
                .ok_or_else(|| format!("{shown}: member {member:?} leaves the destination"))?;
            if rel.split(|&b| b == b'/').count() > MAX_ARCHIVE_DEPTH {
                return Err(format!(
                    "{shown}: member {member:?} is more than {MAX_ARCHIVE_DEPTH} folders deep"
                ));
            }
            if rel.is_empty() {
                continue; // "./" itself
            }
            let mut prefix = 0;
            while let Some(i) = rel[prefix..].iter().position(|&b| b == b'/') {
                if self.symlinks.contains(&rel[..prefix + i]) {
                    return Err(format!(
                        "{shown}: member {member:?} goes through a symlink of the archive"
                    ));
                }
                prefix += i + 1;
            }
            let path = join(dest, &rel);
            let header = entry.header();
            let mode = header
                .mode()
                .map_err(|e| format!("{shown}: {}", io_reason(&e)))?
                & 0o7777;
            let kind = header.entry_type();
            // the member's owner, kept as Docker keeps it (an `--chown` replaces it after);
            // an empty field is 0, as tar reads it
            let owner = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
            let link = || -> Result<Vec<u8>, Reason> {
                entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .ok_or_else(|| format!("{shown}: member {member:?} links to nothing"))
            };
            let done = if kind.is_dir() {
                self.symlinks.remove(&rel);
                self.bundle.add_dir(&path, mode)
            } else if kind.is_symlink() {
                let target = link()?;
                self.symlinks.insert(rel.clone());
                self.bundle.add_symlink(&path, target)
            } else if kind.is_hard_link() {
                let target = link()?;
                let target = member_path(&target).ok_or_else(|| {
                    format!("{shown}: member {member:?} links outside the archive")
                })?;
                self.bundle.add_hardlink(&path, join(dest, &target))
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let size = header
                    .size()
                    .map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
                bytes += size;
                if bytes > MAX_ARCHIVE_BYTES {
                    return Err(format!(
                        "{shown}: unpacks to more than {} GiB",
                        MAX_ARCHIVE_BYTES >> 30
                    ));
                }
                let out = tmp.join(count.to_string());
                let mut f = std::fs::File::create(&out)
                    .map_err(|e| format!("{}: {}", out.display(), io_reason(&e)))?;
                std::io::copy(&mut (&mut entry).take(size), &mut f)
                    .map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
                self.symlinks.remove(&rel);
                self.bundle.add_file(&path, &out, Some(mode))
            } else if matches!(
                kind,
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
            ) {
                continue;
            } else {
                return Err(format!(
                    "{shown}: member {member:?} is a device or fifo; a layer holds only files, folders and links"
                ));
            };
            done.map_err(|e| e.to_string())?;
            self.bundle
                .set_entry_owner(&path, owner.0, owner.1)
                .map_err(|e| format!("{shown}: {e}"))?;
        }
        Ok(())
    }
}

/// How an `ADD` source is compressed, if it is a tar at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveFormat {
    Tar,
    Gzip,
}

/// Whether a file is a tar (plain or gzip), from its first bytes, as Docker decides.
fn archive_format(path: &Path) -> Result<Option<ArchiveFormat>, Reason> {
    let shown = path.display();
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut inner = Vec::new();
        let f = std::fs::File::open(path).map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
        let _ = flate2::read::MultiGzDecoder::new(f)
            .take(512)
            .read_to_end(&mut inner);
        return Ok(is_tar(&inner).then_some(ArchiveFormat::Gzip));
    }
    Ok(is_tar(&head).then_some(ArchiveFormat::Tar))
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// A member's path made relative (`./a`, `/a` -> `a`); `None` when `..` would leave.
fn member_path(raw: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for p in raw.split(|&b| b == b'/') {
        match p {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join(&b'/'))
}

/// An absolute image path cleaned to the bundle's relative form (`/bin/` -> `bin`, `/` -> ``).
fn clean(path: &str) -> Result<Vec<u8>, Reason> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/").into_bytes())
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut out = dir.to_vec();
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn inst(line: usize, kind: Kind) -> Instruction {
        Instruction { line, kind }
    }

    fn copy(sources: &[&str], dest: &str) -> Kind {
        Kind::Copy {
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            dest: dest.to_owned(),
            chmod: None,
            chown: None,
        }
    }

    fn add(sources: &[&str], dest: &str) -> Kind {
        Kind::Add {
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            dest: dest.to_owned(),
            chmod: None,
            chown: None,
        }
    }

    fn scratch() -> Kind {
        Kind::From {
            source: "scratch".to_owned(),
        }
    }

    fn context() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let c = tmp.path();
        std::fs::write(c.join("penguinshell"), b"\x7fELF penguin").unwrap();
        std::fs::set_permissions(
            c.join("penguinshell"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::create_dir_all(c.join("etc/conf.d")).unwrap();
        std::fs::write(c.join("etc/motd"), b"hi").unwrap();
        std::fs::write(c.join("etc/conf.d/a.conf"), b"a").unwrap();
        std::fs::write(c.join("a.txt"), b"a").unwrap();
        std::fs::write(c.join("b.txt"), b"b").unwrap();
        tmp
    }

    fn layers(plan: &Plan) -> Vec<Vec<String>> {
        plan.steps
            .iter()
            .filter_map(|s| match s {
                PlanStep::Layer { bundle, .. } => Some(
                    bundle
                        .entries()
                        .map(|e| {
                            let kind = match &e.kind {
                                EntryKind::File { .. } => "file".to_owned(),
                                EntryKind::Dir => "dir".to_owned(),
                                EntryKind::Symlink { target } => {
                                    format!("-> {}", String::from_utf8_lossy(target))
                                }
                                EntryKind::HardLink { target } => {
                                    format!("=> {}", String::from_utf8_lossy(target))
                                }
                            };
                            let owner = match e.owner {
                                (0, 0) => String::new(),
                                (u, g) => format!(" {u}:{g}"),
                            };
                            format!(
                                "{} {:o} {kind}{owner}",
                                String::from_utf8_lossy(&e.path),
                                e.mode
                            )
                        })
                        .collect(),
                ),
                PlanStep::Config(_) | PlanStep::ConfigOfLayer(_) => None,
            })
            .collect()
    }

    fn err(instructions: &[Instruction], context: &Path) -> String {
        plan(instructions, Path::new("Containerfile"), context, None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_articles_dockerfile_is_one_layer_and_an_entrypoint() {
        let ctx = context();
        let p = plan(
            &[
                inst(1, scratch()),
                inst(2, copy(&["penguinshell"], "/bin/")),
                inst(3, Kind::Entrypoint(vec!["/bin/penguinshell".into()])),
            ],
            Path::new("Containerfile"),
            ctx.path(),
            Some(&"linux/amd64".parse().unwrap()),
        )
        .unwrap();
        assert!(p.base.is_none() && p.default_path);
        assert_eq!(layers(&p), [["bin 755 dir", "bin/penguinshell 755 file"]]);
        let PlanStep::Layer { created_by, .. } = &p.steps[0] else {
            panic!("a layer first")
        };
        assert_eq!(
            created_by,
            &format!("/bin/sh -c #(nop) COPY file:{DIFF_ID_HEX} in /bin/ ")
        );
        // built twice: the same image
        let out = tempfile::tempdir().unwrap();
        let opts = |n: &str| crate::build::BuildOptions {
            settings: Default::default(),
            format: crate::manifest::Format::Oci,
            compression: crate::compress::Compression::Gzip(2),
            threads: 2,
            tags: vec![],
            oci_layout: out.path().join(n),
            docker_archive: None,
            rootfs_tar: None,
            progress: crate::layer::Progress::none(),
        };
        let a = crate::build::build_plan(&p, &opts("a")).unwrap();
        let b = crate::build::build_plan(&p, &opts("b")).unwrap();
        assert_eq!(a.manifest, b.manifest);
        let img = &crate::inspect::inspect(&out.path().join("a").display().to_string())
            .unwrap()
            .images[0];
        let cfg = img.config.config().clone().unwrap();
        assert_eq!(
            cfg.env().clone().unwrap(),
            [format!("PATH={}", crate::apply::DEFAULT_PATH)]
        );
        assert_eq!(cfg.entrypoint().clone().unwrap(), ["/bin/penguinshell"]);
    }

    #[test]
    fn directories_globs_workdir_and_chmod_copy_as_docker_does() {
        let ctx = context();
        let p = plan(
            &[
                inst(1, scratch()),
                inst(2, Kind::Workdir("/srv".into())),
                inst(3, copy(&["etc"], "conf")),
                inst(4, copy(&["*.txt"], "./")),
                inst(
                    5,
                    Kind::Copy {
                        sources: vec!["/penguinshell".into(), "a.txt".into()],
                        dest: "/opt/".into(),
                        chmod: Some(0o700),
                        chown: Some((1000, 50)),
                    },
                ),
            ],
            Path::new("Containerfile"),
            ctx.path(),
            None,
        )
        .unwrap();
        assert_eq!(
            layers(&p),
            [
                vec!["srv 755 dir"],
                vec![
                    "srv 755 dir",
                    "srv/conf 755 dir",
                    "srv/conf/conf.d 755 dir",
                    "srv/conf/conf.d/a.conf 644 file",
                    "srv/conf/motd 644 file",
                ],
                vec!["srv 755 dir", "srv/a.txt 644 file", "srv/b.txt 644 file"],
                vec![
                    "opt 700 dir 1000:50",
                    "opt/a.txt 700 file 1000:50",
                    "opt/penguinshell 700 file 1000:50",
                ],
            ]
        );
    }

    #[test]
    fn refusals_name_the_file_the_line_and_the_instruction() {
        let ctx = context();
        let c = ctx.path();
        std::os::unix::fs::symlink("/etc/passwd", c.join("out")).unwrap();
        let cases: Vec<(Vec<Instruction>, &str)> = vec![
            (
                vec![
                    inst(1, scratch()),
                    inst(2, copy(&["penguinshell"], "/bin/")),
                    inst(3, Kind::Unsupported { name: "RUN".into() }),
                ],
                "Containerfile:3: RUN: packer builds without running anything",
            ),
            (
                vec![inst(1, scratch()), inst(3, copy(&["penguinshel"], "/bin/"))],
                "Containerfile:3: COPY: penguinshel: No such file or directory",
            ),
            (
                vec![inst(1, scratch()), inst(2, copy(&["../x"], "/"))],
                "Containerfile:2: COPY: ../x: outside the build context",
            ),
            (
                vec![inst(1, scratch()), inst(2, copy(&["out"], "/"))],
                "Containerfile:2: COPY: out: a symlink that leads outside the build context",
            ),
            (
                vec![
                    inst(1, scratch()),
                    inst(2, add(&["https://example.com/x.tgz"], "/")),
                ],
                "Containerfile:2: ADD: https://example.com/x.tgz: packer fetches no URL; download it into the context and ADD the file",
            ),
            (
                vec![inst(
                    4,
                    Kind::From {
                        source: "docker://busybox:1.36".into(),
                    },
                )],
                "Containerfile:4: FROM: packer reads no registry; fetch the base first: pusher copy docker://busybox:1.36 oci:DIR",
            ),
            (
                vec![inst(1, scratch()), inst(2, copy(&["a.txt", "b.txt"], "/x"))],
                "Containerfile:2: COPY: /x: with several sources the destination is a folder and ends with /",
            ),
            (
                vec![
                    inst(1, scratch()),
                    inst(2, Kind::Expose(vec!["http".into()])),
                ],
                "Containerfile:2: EXPOSE: invalid port \"http\": expected a port number from 0 to 65535, or a range A-B",
            ),
            (
                vec![inst(
                    2,
                    Kind::From {
                        source: "busybox:1.36".into(),
                    },
                )],
                "Containerfile:2: FROM: packer reads no registry; fetch the base first: pusher copy docker://busybox:1.36 oci:DIR",
            ),
            (
                vec![inst(1, scratch()), inst(2, scratch())],
                "Containerfile:2: FROM: packer builds one stage; a second FROM starts a multi-stage build",
            ),
            (
                vec![inst(1, Kind::Env(vec![("A".into(), "b".into())]))],
                "Containerfile:1: ENV: comes before FROM; only ARG may (FROM scratch or FROM an image on disk first)",
            ),
        ];
        for (instructions, want) in cases {
            assert_eq!(err(&instructions, c), want);
        }
    }

    fn tar_gz(path: &Path, members: &[(&str, tar::EntryType, &[u8], &str)]) {
        let f = std::fs::File::create(path).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        for (name, kind, data, link) in members {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o640);
            h.set_size(data.len() as u64);
            // set_path refuses `..`; write the raw name as a hostile archive would
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            t.append(&h, *data).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn add_extracts_a_local_tar_and_refuses_escapes() {
        let ctx = context();
        let c = ctx.path();
        use tar::EntryType::{Directory, Regular, Symlink};
        tar_gz(
            &c.join("good.tar.gz"),
            &[
                ("./usr/", Directory, b"", ""),
                ("./usr/lib/x.so", Regular, b"so", ""),
                ("./usr/lib/y.so", Symlink, b"", "x.so"),
            ],
        );
        let p = plan(
            &[
                inst(1, scratch()),
                inst(2, add(&["good.tar.gz", "a.txt"], "/")),
            ],
            Path::new("Containerfile"),
            c,
            None,
        )
        .unwrap();
        assert_eq!(
            layers(&p),
            [[
                "a.txt 644 file",
                "usr 640 dir",
                "usr/lib 755 dir",
                "usr/lib/x.so 640 file",
                "usr/lib/y.so 777 -> x.so"
            ]]
        );
        assert_eq!(p.keep.len(), 1);
        tar_gz(&c.join("up.tar.gz"), &[("../../etc/x", Regular, b"x", "")]);
        tar_gz(
            &c.join("through.tar.gz"),
            &[("l", Symlink, b"", "/etc"), ("l/passwd", Regular, b"x", "")],
        );
        for (file, want) in [
            ("up.tar.gz", "member \"../../etc/x\" leaves the destination"),
            (
                "through.tar.gz",
                "member \"l/passwd\" goes through a symlink of the archive",
            ),
        ] {
            let e = err(&[inst(1, scratch()), inst(2, add(&[file], "/"))], c);
            assert!(
                e.starts_with("Containerfile:2: ADD: ") && e.ends_with(want),
                "{e}"
            );
        }
        // COPY of the same archive copies the file
        let p = plan(
            &[
                inst(1, scratch()),
                inst(2, copy(&["good.tar.gz"], "/x.tgz")),
            ],
            Path::new("Containerfile"),
            c,
            None,
        )
        .unwrap();
        assert_eq!(layers(&p), [["x.tgz 644 file"]]);
    }

    #[test]
    fn chown_reaches_the_tar_headers() {
        let ctx = context();
        let p = plan(
            &[
                inst(1, scratch()),
                inst(
                    2,
                    Kind::Copy {
                        sources: vec!["a.txt".into()],
                        dest: "/home/p/".into(),
                        chmod: None,
                        chown: Some((1000, 1000)),
                    },
                ),
            ],
            Path::new("Containerfile"),
            ctx.path(),
            None,
        )
        .unwrap();
        let PlanStep::Layer { bundle, .. } = &p.steps[0] else {
            panic!("a layer")
        };
        let bytes = crate::layer::write_tar(bundle, 0, Vec::new(), Path::new("mem")).unwrap();
        let owners: Vec<(String, u64, u64)> = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            owners,
            [
                ("home/".to_owned(), 1000, 1000),
                ("home/p/".to_owned(), 1000, 1000),
                ("home/p/a.txt".to_owned(), 1000, 1000),
            ]
        );
    }

    #[test]
    fn a_base_with_onbuild_triggers_is_refused_and_its_env_reaches_substitution() {
        use crate::layout::OciLayout;
        use crate::model::MediaType;
        let ctx = context();
        let c = ctx.path();
        // a base whose config has an Env and, in a second image, ONBUILD triggers
        let mut bundle = Bundle::new();
        bundle
            .add_file("bin/sh", c.join("a.txt"), Some(0o755))
            .unwrap();
        let layout = OciLayout::create(c.join("base")).unwrap();
        let img = crate::build::write_image(
            &bundle,
            &crate::config::ImageSettings {
                env: vec!["PATH=/bin".into(), "DIR=/opt/base".into()],
                ..Default::default()
            },
            crate::manifest::Format::Oci,
            crate::compress::Compression::Gzip(2),
            1,
            &layout,
            None,
            &crate::layer::Progress::none(),
        )
        .unwrap();
        layout
            .add_to_index(img.manifest.clone(), Some("plain"))
            .unwrap();
        let mut config: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(img.config.digest()).unwrap()).unwrap();
        config["config"]["OnBuild"] = serde_json::json!(["RUN make"]);
        let config = layout
            .put_blob(
                MediaType::ImageConfig,
                &serde_json::to_vec(&config).unwrap(),
            )
            .unwrap();
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(img.manifest.digest()).unwrap()).unwrap();
        manifest["config"]["digest"] = serde_json::json!(config.digest().to_string());
        manifest["config"]["size"] = serde_json::json!(config.size());
        let manifest = layout
            .put_blob(
                MediaType::ImageManifest,
                &serde_json::to_vec(&manifest).unwrap(),
            )
            .unwrap();
        layout.add_to_index(manifest, Some("onbuild")).unwrap();
        let file = Path::new("Containerfile");
        let text = |tag: &str| {
            format!(
                "FROM oci:{}:{tag}\nCOPY a.txt $DIR/\n",
                c.join("base").display()
            )
        };
        let err = plan_file(&text("onbuild"), file, &[], c, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Containerfile:1: FROM: the base has 1 ONBUILD trigger(s), which Docker would run here; packer builds without running anything"
        );
        let p = plan_file(&text("plain"), file, &[], c, None).unwrap();
        assert_eq!(layers(&p), [["opt/base/a.txt 644 file"]]);
    }

    #[test]
    fn globs_match_like_filepath_match() {
        for (p, n, m) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.tx", false),
            ("?.txt", "ab.txt", false),
            ("[ab].txt", "b.txt", true),
            ("[!ab].txt", "b.txt", false),
            ("[a-c]*", "cat", true),
            ("*", "", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), n.as_bytes()), m, "{p} {n}");
        }
    }
}
