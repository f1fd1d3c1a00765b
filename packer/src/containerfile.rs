//! The Containerfile (Dockerfile) subset `packer build --file` reads, parsed with Docker's
//! semantics: text in, instructions out, no file system and no network.
//!
//! What it does as Docker 20.10's builder does: the `# syntax=` and `# escape=` directives (only
//! at the top), comments and empty lines, line continuations with the escape character,
//! case-insensitive instruction names, builder flags (`--chmod=`, `--chown=`), `ARG` before `FROM`
//! (usable in `FROM` only, and as the default of an `ARG` of the same name after it), `$VAR`,
//! `${VAR}`, `${VAR:-word}`, `${VAR:+word}` (and `-`, `+`, `?`, `:?`) substituted in the
//! instructions Docker substitutes in (`FROM`, `COPY`, `ADD`, `ENV`, `ARG`, `LABEL`, `EXPOSE`,
//! `WORKDIR`, `USER`, `STOPSIGNAL`, never `ENTRYPOINT`/`CMD`), quotes and escapes removed there,
//! `ENV K=V K2="a b"` and the legacy `ENV K V` (`LABEL` likewise; all pairs of one `ENV` see the
//! values from before it), and the exec (JSON) form of `ENTRYPOINT`/`CMD` beside the shell
//! form, which becomes `["/bin/sh", "-c", TEXT]` (a line that is not a valid JSON array of strings
//! falls back to the shell form, as Docker does).
//!
//! Every input is bounded: the file ([`MAX_FILE_BYTES`]), a line, an instruction, the number of
//! instructions, the nesting of `${...}` and the bytes substitution may produce.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest Containerfile read, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The longest physical line, in bytes (Docker's scanner stops at 64 KiB too).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// The longest instruction once its continuation lines are joined, in bytes.
pub const MAX_INSTRUCTION_BYTES: usize = 256 * 1024;
/// The most instructions in one file.
pub const MAX_INSTRUCTIONS: usize = 10_000;
/// How deep `${A:-${B:-...}}` may nest.
pub const MAX_SUBSTITUTION_DEPTH: usize = 16;
/// The longest word (a path, a value) substitution may produce, in bytes.
pub const MAX_WORD_BYTES: usize = 256 * 1024;
/// The most bytes substitution may produce over the whole file.
pub const MAX_EXPANDED_BYTES: usize = 16 << 20;
/// The most ports `EXPOSE` may name over the whole file (a range counts each port).
pub const MAX_EXPOSED_PORTS: usize = 65_536;

/// One instruction, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// the line the instruction starts on, counted from 1 as editors do
    pub line: usize,
    /// what it says, its arguments substituted
    pub kind: Kind,
}

/// What an instruction says, after `ARG`/`ENV` substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `FROM scratch` or `FROM SOURCE` (a transport name as typed; `AS name` accepted and dropped).
    From {
        /// `"scratch"` or the base image's name, arguments substituted
        source: String,
    },
    /// `COPY [--chmod=MODE] [--chown=UID[:GID]] SRC... DEST`
    Copy {
        /// paths in the build context
        sources: Vec<String>,
        /// the path in the image (a trailing `/` means a folder)
        dest: String,
        /// `--chmod`, octal
        chmod: Option<u32>,
        /// `--chown`, numeric; a lone uid is also the gid, as Docker does
        chown: Option<(u32, u32)>,
    },
    /// `ADD`: as `COPY`, and a local tar archive is extracted (URLs are refused here).
    Add {
        /// paths in the build context
        sources: Vec<String>,
        /// the path in the image
        dest: String,
        /// `--chmod`, octal
        chmod: Option<u32>,
        /// `--chown`, numeric
        chown: Option<(u32, u32)>,
    },
    /// `ENV`: name/value pairs in order, each added or replacing by name.
    Env(Vec<(String, String)>),
    /// `ARG NAME[=DEFAULT]`; one instruction per name when a line declares several. Before
    /// `FROM` these are the arguments `FROM` may use.
    Arg {
        /// the argument's name
        name: String,
        /// its default as written in the file, substituted (not the `--build-arg` value)
        default: Option<String>,
    },
    /// `ENTRYPOINT`, exec form, or the shell form as `["/bin/sh", "-c", TEXT]`.
    Entrypoint(Vec<String>),
    /// `CMD`, exec form, or the shell form as `["/bin/sh", "-c", TEXT]`.
    Cmd(Vec<String>),
    /// `WORKDIR PATH` as written, substituted; relative to the previous one (see
    /// [`resolve_workdir`]).
    Workdir(String),
    /// `USER NAME[:GROUP]` or `UID[:GID]`, as written, substituted.
    User(String),
    /// `LABEL`: name/value pairs in order.
    Label(Vec<(String, String)>),
    /// `EXPOSE`: the ports as the config names them, `PORT/PROTO` (`80` is `80/tcp`, a range is
    /// each of its ports), in order, without duplicates.
    Expose(Vec<String>),
    /// `STOPSIGNAL`: a signal name or number as written, substituted, checked.
    Stopsignal(String),
    /// An instruction that needs a container runtime or that packer does not do (`RUN`,
    /// `HEALTHCHECK`, `ONBUILD`, `VOLUME`, `SHELL`, `MAINTAINER`): the name, upper case.
    Unsupported {
        /// the instruction's name, upper case
        name: String,
    },
}

/// A Containerfile that cannot be read: the file as given, the line, the instruction and why.
///
/// Displays as `Containerfile:3: COPY: penguinshell: No such file or directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerfileError {
    /// the file, as the user named it
    pub file: PathBuf,
    /// the line the instruction starts on (1-based)
    pub line: usize,
    /// the instruction's name, upper case; empty for errors outside any instruction
    pub instruction: String,
    /// what is wrong, one line
    pub reason: String,
}

impl fmt::Display for ContainerfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if !self.instruction.is_empty() {
            write!(f, "{}: ", escape_for_terminal(&self.instruction))?;
        }
        f.write_str(&escape_for_terminal(&self.reason))
    }
}

impl std::error::Error for ContainerfileError {}

/// Control characters from the file never reach the terminal raw.
fn escape_for_terminal(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Parses a Containerfile. `file` only names it in errors; `build_args` are the
/// `--build-arg NAME=VALUE` pairs (the last one of a name wins), used where an `ARG` declares
/// them. Variables of the base image's environment are unknown here: see [`parse_with_env`].
pub fn parse(
    text: &str,
    file: &Path,
    build_args: &[(String, String)],
) -> Result<Vec<Instruction>, ContainerfileError> {
    parse_with_env(text, file, build_args, &[])
}

/// [`parse`], with the base image's environment (its config's `Env`, split at the first `=`)
/// visible to substitution after `FROM`, as Docker's builder sees it.
pub fn parse_with_env(
    text: &str,
    file: &Path,
    build_args: &[(String, String)],
    base_env: &[(String, String)],
) -> Result<Vec<Instruction>, ContainerfileError> {
    let error = |line: usize, reason: String| ContainerfileError {
        file: file.to_path_buf(),
        line,
        instruction: String::new(),
        reason,
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(error(
            1,
            format!(
                "the file is {} bytes, more than the {} KiB a Containerfile may have",
                text.len(),
                MAX_FILE_BYTES / 1024
            ),
        ));
    }
    let (escape, lines) = logical_lines(text).map_err(|(line, reason)| error(line, reason))?;
    if lines.len() > MAX_INSTRUCTIONS {
        return Err(error(
            lines[MAX_INSTRUCTIONS].0,
            format!("more than {MAX_INSTRUCTIONS} instructions"),
        ));
    }
    let mut parser = Parser {
        escape,
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        base_env,
        meta_args: HashMap::new(),
        stage_args: HashMap::new(),
        env: HashMap::new(),
        from_seen: false,
        expanded: 0,
        exposed: 0,
        out: Vec::new(),
    };
    for (line, text) in &lines {
        let (name, flags, rest) = split_command(text, escape);
        parser
            .instruction(*line, &name, &flags, &rest)
            .map_err(|reason| ContainerfileError {
                file: file.to_path_buf(),
                line: *line,
                instruction: name.to_uppercase(),
                reason,
            })?;
    }
    if !parser.from_seen {
        let line = lines.last().map_or(text.lines().count().max(1), |l| l.0);
        let reason = if lines.is_empty() {
            "the file has no instructions; it starts with FROM".to_string()
        } else {
            "no FROM instruction: a Containerfile starts with FROM (only ARG may come before it)"
                .to_string()
        };
        return Err(error(line, reason));
    }
    Ok(parser.out)
}

/// The working folder after `WORKDIR path`, as Docker resolves it: a relative path continues
/// from the current one (`/` when none), and the result is cleaned (`.`, `..`, `//` removed).
pub fn resolve_workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{current}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

// ---------------------------------------------------------------------------------------------
// Lines: directives, comments, continuations.

/// A reason, with the line it concerns.
type LineError = (usize, String);

/// Splits the file into instructions (start line, text with continuations joined), reading the
/// parser directives at the top. Errors carry the line.
fn logical_lines(text: &str) -> Result<(char, Vec<(usize, String)>), LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text.split('\n').collect();
    let mut directives = Directives {
        escape: '\\',
        done: false,
        seen: Vec::new(),
    };
    let mut out = Vec::new();
    let mut i = 0;
    let check_len = |line: &str, number: usize| {
        if line.len() > MAX_LINE_BYTES {
            Err((
                number,
                format!(
                    "the line is {} bytes, more than the {} KiB a line may have",
                    line.len(),
                    MAX_LINE_BYTES / 1024
                ),
            ))
        } else {
            Ok(())
        }
    };
    while i < physical.len() {
        let start = i + 1;
        check_len(physical[i], start)?;
        let token = trim_newline(physical[i]).trim_start();
        i += 1;
        directives.line(token).map_err(|reason| (start, reason))?;
        let token = if is_comment(token) { "" } else { token };
        let (first, mut complete) = trim_continuation(token, directives.escape);
        if complete && first.is_empty() {
            continue;
        }
        let mut joined = first.to_string();
        while !complete && i < physical.len() {
            check_len(physical[i], i + 1)?;
            let token = trim_newline(physical[i]);
            i += 1;
            directives.line(token).map_err(|reason| (i, reason))?;
            if is_comment(token) || token.trim_start().is_empty() {
                continue;
            }
            let (piece, done) = trim_continuation(token, directives.escape);
            complete = done;
            joined.push_str(piece);
            if joined.len() > MAX_INSTRUCTION_BYTES {
                return Err((
                    start,
                    format!(
                        "the instruction is more than {} KiB long",
                        MAX_INSTRUCTION_BYTES / 1024
                    ),
                ));
            }
        }
        out.push((start, joined));
        if out.len() > MAX_INSTRUCTIONS {
            break;
        }
    }
    Ok((directives.escape, out))
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// `(line without the continuation, true when the instruction ends here)`. A line continues
/// when it ends with the escape character (then optional spaces or tabs) that is not itself
/// escaped.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape) {
        Some(before) if before.is_empty() || !before.ends_with(escape) => (before, false),
        _ => (line, true),
    }
}

/// The parser directives (`# escape=`, `# syntax=`, `# check=`): only before the first line
/// that is not one; each at most once.
struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
}

impl Directives {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(format!(
                        "invalid escape token {other:?}: the escape directive takes \\ or `"
                    ));
                }
            };
        }
        self.seen.push(name);
        Ok(())
    }
}

/// `# NAME = VALUE` → `(NAME, VALUE)`: NAME a letter then letters or digits, VALUE not empty.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let regex_space = [' ', '\t', '\n', '\x0c', '\r'];
    let value = rest[name_end..]
        .trim_start_matches(regex_space)
        .strip_prefix('=')?
        .trim_start_matches(regex_space)
        .trim_end_matches(regex_space);
    (!value.is_empty()).then_some((name, value))
}

// ---------------------------------------------------------------------------------------------
// Words: the instruction's name, its flags, its arguments.

/// The separators Docker splits arguments on (`[\t\v\f\r ]+`).
fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

fn split_separators(text: &str) -> Vec<String> {
    text.split(is_separator)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// `(first word, the rest)` split at the first run of separators.
fn split_first(text: &str) -> (&str, Option<&str>) {
    match text.find(is_separator) {
        Some(at) => (
            &text[..at],
            Some(text[at..].trim_start_matches(is_separator)),
        ),
        None => (text, None),
    }
}

/// `(name, flags, arguments)`: the flags are the leading `--name=value` words, their quotes and
/// escapes removed.
fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let (name, rest) = split_first(line.trim());
    let (flags, rest) = match rest {
        Some(rest) => builder_flags(rest, escape),
        None => (Vec::new(), ""),
    };
    (name.to_string(), flags, rest.trim().to_string())
}

fn builder_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        // between words
        let Some(&(at, c)) = chars.peek() else {
            return (flags, "");
        };
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if !line[at..].starts_with("--") {
            return (flags, &line[at..]);
        }
        // a flag word, quotes and escapes removed
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        loop {
            let Some((at, c)) = chars.next() else {
                if word != "--" && (blank_ok || !word.is_empty()) {
                    flags.push(word);
                }
                return (flags, "");
            };
            match quote {
                None if c.is_whitespace() => {
                    if word == "--" {
                        return (flags, &line[at..]);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(word);
                    }
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => match chars.next() {
                    Some((_, next)) => word.push(next),
                    None => {
                        if word != "--" && (blank_ok || !word.is_empty()) {
                            flags.push(word);
                        }
                        return (flags, "");
                    }
                },
                _ => word.push(c),
            }
        }
    }
}

/// Splits at whitespace outside quotes, keeping quotes and escapes in the words (they are
/// removed when the word is substituted): how `ENV`, `LABEL` and `ARG` find their pairs.
fn raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word && (blank_ok || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                in_word = false;
                blank_ok = false;
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                    word.push(c);
                } else if c == escape {
                    if let Some(next) = chars.next() {
                        word.push(c);
                        word.push(next);
                    }
                } else {
                    word.push(c);
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                    word.push(c);
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some(next) => {
                            word.push(c);
                            word.push(next);
                        }
                        None => quote = None,
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// `Ok(Some(list))` for a JSON array of strings, `Ok(None)` for anything that is not a JSON
/// array (the shell form), an error for an array holding something else than strings.
fn json_array(text: &str) -> Result<Option<Vec<String>>, String> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

// ---------------------------------------------------------------------------------------------
// Instructions.

struct Parser<'a> {
    escape: char,
    build_args: HashMap<String, String>,
    base_env: &'a [(String, String)],
    /// `ARG`s before `FROM`: their values (a `--build-arg`, else the default)
    meta_args: HashMap<String, Option<String>>,
    /// `ARG`s after `FROM`: their values
    stage_args: HashMap<String, Option<String>>,
    /// the environment so far: the base's, then `ENV`s
    env: HashMap<String, String>,
    from_seen: bool,
    /// bytes produced by substitution so far
    expanded: usize,
    /// ports exposed so far
    exposed: usize,
    out: Vec<Instruction>,
}

impl Parser<'_> {
    fn instruction(
        &mut self,
        line: usize,
        name: &str,
        flags: &[String],
        rest: &str,
    ) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        let known_unsupported = [
            "run",
            "healthcheck",
            "onbuild",
            "volume",
            "shell",
            "maintainer",
        ];
        let supported = [
            "from",
            "arg",
            "env",
            "label",
            "copy",
            "add",
            "entrypoint",
            "cmd",
            "workdir",
            "user",
            "expose",
            "stopsignal",
        ];
        if !supported.contains(&lower.as_str()) && !known_unsupported.contains(&lower.as_str()) {
            return Err("unknown instruction".to_string());
        }
        if !self.from_seen && lower != "from" && lower != "arg" {
            return Err(
                "comes before FROM: a Containerfile starts with FROM (only ARG may come before it)"
                    .to_string(),
            );
        }
        if known_unsupported.contains(&lower.as_str()) {
            self.push(
                line,
                Kind::Unsupported {
                    name: lower.to_ascii_uppercase(),
                },
            );
            return Ok(());
        }
        let upper = lower.to_ascii_uppercase();
        let flags = parse_flags(&upper, flags)?;
        match lower.as_str() {
            "from" => self.from(line, &flags, rest),
            "arg" => self.arg(line, &flags, rest),
            "env" => {
                no_flags(&flags)?;
                let pairs = self.name_values(rest, "ENV")?;
                for (k, v) in &pairs {
                    self.env.insert(k.clone(), v.clone());
                }
                self.push(line, Kind::Env(pairs));
                Ok(())
            }
            "label" => {
                no_flags(&flags)?;
                let pairs = self.name_values(rest, "LABEL")?;
                self.push(line, Kind::Label(pairs));
                Ok(())
            }
            "copy" | "add" => self.copy(line, &upper, &flags, rest),
            "entrypoint" | "cmd" => {
                no_flags(&flags)?;
                if rest.is_empty() {
                    return Err(format!("{upper} requires at least one argument"));
                }
                let argv = match json_array(rest)? {
                    Some(list) => list,
                    None => vec!["/bin/sh".to_string(), "-c".to_string(), rest.to_string()],
                };
                let kind = if lower == "cmd" {
                    Kind::Cmd(argv)
                } else {
                    Kind::Entrypoint(argv)
                };
                self.push(line, kind);
                Ok(())
            }
            "workdir" | "user" | "stopsignal" => {
                no_flags(&flags)?;
                if rest.is_empty() {
                    return Err(format!("{upper} requires exactly one argument"));
                }
                let value = self.word(rest)?;
                let kind = match lower.as_str() {
                    "workdir" => {
                        if value.is_empty() {
                            return Err(format!("{rest:?} substitutes to an empty path"));
                        }
                        Kind::Workdir(value)
                    }
                    "user" => Kind::User(value),
                    _ => {
                        check_signal(&value)?;
                        Kind::Stopsignal(value)
                    }
                };
                self.push(line, kind);
                Ok(())
            }
            "expose" => {
                no_flags(&flags)?;
                if rest.is_empty() {
                    return Err("EXPOSE requires at least one argument".to_string());
                }
                let mut ports = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for raw in split_separators(rest) {
                    for word in self.words(&raw)? {
                        for port in port_keys(&word)? {
                            if seen.insert(port.clone()) {
                                self.exposed += 1;
                                if self.exposed > MAX_EXPOSED_PORTS {
                                    return Err(format!(
                                        "more than {MAX_EXPOSED_PORTS} exposed ports"
                                    ));
                                }
                                ports.push(port);
                            }
                        }
                    }
                }
                self.push(line, Kind::Expose(ports));
                Ok(())
            }
            _ => unreachable!("every supported instruction is handled"),
        }
    }

    fn push(&mut self, line: usize, kind: Kind) {
        self.out.push(Instruction { line, kind });
    }

    fn from(&mut self, line: usize, flags: &[(String, String)], rest: &str) -> Result<(), String> {
        if let Some((flag, _)) = flags.first() {
            return Err(match flag.as_str() {
                "platform" => {
                    "FROM --platform is not supported: give packer build --platform OS/ARCH"
                        .to_string()
                }
                other => format!("unknown flag: --{other}"),
            });
        }
        if self.from_seen {
            return Err(
                "a second FROM starts a multi-stage build, which packer does not do: one FROM per Containerfile"
                    .to_string(),
            );
        }
        let args = split_separators(rest);
        match args.as_slice() {
            [_] => {}
            [_, r#as, stage] if r#as.eq_ignore_ascii_case("as") => {
                let stage = stage.to_lowercase();
                let mut chars = stage.chars();
                let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                    && chars
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if !valid {
                    return Err(format!(
                        "invalid name for build stage: {stage:?}, name can't start with a number or contain symbols"
                    ));
                }
            }
            _ => return Err("FROM requires either one or three arguments".to_string()),
        }
        let source = self.word(&args[0])?;
        if source.is_empty() {
            return Err(format!("base name ({}) should not be blank", args[0]));
        }
        let source = if source.eq_ignore_ascii_case("scratch") {
            "scratch".to_string()
        } else {
            source
        };
        self.from_seen = true;
        self.env = self.base_env.iter().cloned().collect();
        self.push(line, Kind::From { source });
        Ok(())
    }

    fn arg(&mut self, line: usize, flags: &[(String, String)], rest: &str) -> Result<(), String> {
        no_flags(flags)?;
        let words = raw_words(rest, self.escape);
        if words.is_empty() {
            return Err("ARG requires at least one argument".to_string());
        }
        for word in words {
            let (name, default) = match word.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (word, None),
            };
            if name.is_empty() {
                return Err("ARG names can not be blank".to_string());
            }
            let name = self.word(&name)?;
            check_name(&name, "ARG")?;
            let default = default.map(|d| self.word(&d)).transpose()?;
            let value = match self.build_args.get(&name) {
                Some(given) => Some(given.clone()),
                None if default.is_some() => default.clone(),
                None if self.from_seen => self.meta_args.get(&name).cloned().flatten(),
                None => None,
            };
            if self.from_seen {
                self.stage_args.insert(name.clone(), value);
            } else {
                self.meta_args.insert(name.clone(), value);
            }
            self.push(line, Kind::Arg { name, default });
        }
        Ok(())
    }

    /// `ENV`/`LABEL` pairs: `K=V K2="a b"` or the legacy `K the rest is the value`, each name
    /// and value substituted with the variables from before the instruction.
    fn name_values(&mut self, rest: &str, what: &str) -> Result<Vec<(String, String)>, String> {
        let words = raw_words(rest, self.escape);
        let Some(first) = words.first() else {
            return Err(format!("{what} requires at least one argument"));
        };
        let raw: Vec<(String, String)> = if !first.contains('=') {
            match split_first(rest) {
                (name, Some(value)) if !value.is_empty() => {
                    vec![(name.to_string(), value.to_string())]
                }
                _ => return Err(format!("{what} must have two arguments")),
            }
        } else {
            words
                .iter()
                .map(|w| match w.split_once('=') {
                    Some((k, v)) => Ok((k.to_string(), v.to_string())),
                    None => Err(format!(
                        "syntax error - can't find = in {w:?}. Must be of the form: name=value"
                    )),
                })
                .collect::<Result<_, _>>()?
        };
        let mut pairs = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            if k.is_empty() {
                return Err(format!("{what} names can not be blank"));
            }
            let k = self.word(&k)?;
            check_name(&k, what)?;
            let v = self.word(&v)?;
            pairs.push((k, v));
        }
        Ok(pairs)
    }

    fn copy(
        &mut self,
        line: usize,
        upper: &str,
        flags: &[(String, String)],
        rest: &str,
    ) -> Result<(), String> {
        let mut chmod = None;
        let mut chown = None;
        for (flag, value) in flags {
            match flag.as_str() {
                "chmod" => chmod = parse_chmod(&self.word(value)?)?,
                "chown" => chown = parse_chown(&self.word(value)?)?,
                "from" => {
                    return Err(format!(
                        "{upper} --from copies from another stage or image, which packer does not build: copy from the build context"
                    ));
                }
                other => return Err(format!("{upper} --{other} is not supported by packer")),
            }
        }
        let raw = match json_array(rest)? {
            Some(list) => list,
            None => split_separators(rest),
        };
        if raw.len() < 2 {
            return Err(format!(
                "{upper} requires at least two arguments, sources and a destination"
            ));
        }
        let mut args = Vec::with_capacity(raw.len());
        for word in &raw {
            args.push(self.word(word)?);
        }
        let dest = args.pop().unwrap_or_default();
        if upper == "ADD"
            && let Some(url) = args.iter().find(|s| is_url(s))
        {
            return Err(format!(
                "{url}: ADD of a URL needs the network, and packer builds offline: download it and COPY the file"
            ));
        }
        let kind = if upper == "ADD" {
            Kind::Add {
                sources: args,
                dest,
                chmod,
                chown,
            }
        } else {
            Kind::Copy {
                sources: args,
                dest,
                chmod,
                chown,
            }
        };
        self.push(line, kind);
        Ok(())
    }

    /// The variable's value where the instruction stands: before `FROM` the `ARG`s before it;
    /// after, the environment, then the declared `ARG`s (`ENV` wins over `ARG`).
    fn lookup(&self, name: &str) -> Option<String> {
        if !self.from_seen {
            return self.meta_args.get(name).cloned().flatten();
        }
        self.env
            .get(name)
            .cloned()
            .or_else(|| self.stage_args.get(name).cloned().flatten())
    }

    /// One word substituted, quotes and escapes removed.
    fn word(&mut self, text: &str) -> Result<String, String> {
        let (word, _) = self.substitute(text)?;
        Ok(word)
    }

    /// Substituted, then split at whitespace that was not quoted (`EXPOSE $PORTS`).
    fn words(&mut self, text: &str) -> Result<Vec<String>, String> {
        let (_, words) = self.substitute(text)?;
        Ok(words)
    }

    fn substitute(&mut self, text: &str) -> Result<(String, Vec<String>), String> {
        let chars: Vec<char> = text.chars().collect();
        let mut lex = Lex {
            chars: &chars,
            pos: 0,
            escape: self.escape,
            parser: self,
            depth: 0,
        };
        let (word, words) = lex.until(None)?;
        self.expanded += word.len();
        if self.expanded > MAX_EXPANDED_BYTES {
            return Err(format!(
                "substitution produced more than {} MiB over the file",
                MAX_EXPANDED_BYTES >> 20
            ));
        }
        Ok((word, words))
    }
}

fn no_flags(flags: &[(String, String)]) -> Result<(), String> {
    match flags.first() {
        Some((flag, _)) => Err(format!("unknown flag: --{flag}")),
        None => Ok(()),
    }
}

/// The `--name=value` flags: each once, each with a value.
fn parse_flags(instruction: &str, flags: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut parsed: Vec<(String, String)> = Vec::new();
    for flag in flags {
        let Some(body) = flag.strip_prefix("--") else {
            return Err(format!("flag {flag:?} must start with --"));
        };
        if body.is_empty() {
            break;
        }
        let Some((name, value)) = body.split_once('=') else {
            return Err(format!(
                "{instruction} --{body} needs a value: --{body}=VALUE"
            ));
        };
        if parsed.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate flag specified: --{name}"));
        }
        parsed.push((name.to_string(), value.to_string()));
    }
    Ok(parsed)
}

/// Names that could not be written as `NAME=VALUE` in a config are refused.
fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        Err(format!("{what} names can not be blank"))
    } else if name.contains('=') {
        Err(format!("{what} name {name:?} contains ="))
    } else {
        Ok(())
    }
}

fn parse_chmod(value: &str) -> Result<Option<u32>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match u32::from_str_radix(value, 8) {
        Ok(mode) if mode <= 0o7777 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(mode)),
        _ => Err(format!(
            "--chmod={value}: give an octal mode such as 755 or 0644"
        )),
    }
}

fn parse_chown(value: &str) -> Result<Option<(u32, u32)>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let numeric = |s: &str| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u32>().ok()
        } else {
            None
        }
    };
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (numeric(u), numeric(g)),
        None => (numeric(value), numeric(value)),
    };
    match (user, group) {
        (Some(u), Some(g)) => Ok(Some((u, g))),
        _ => Err(format!(
            "--chown={value}: packer takes numeric ids (--chown=UID:GID); names would need the image's /etc/passwd and /etc/group"
        )),
    }
}

fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("git@")
        || lower.starts_with("git://")
}

/// `80`, `80/udp`, `8000-8002/tcp` → the config's keys, one per port.
fn port_keys(spec: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| format!("EXPOSE {spec}: {why}");
    if spec.contains(':') {
        return Err(bad(
            "EXPOSE takes container ports (80, 80/udp, 8000-8010), not a host mapping",
        ));
    }
    let mut parts = spec.split('/');
    let port = parts.next().unwrap_or_default();
    let proto = match parts.next() {
        None | Some("") => "tcp".to_string(),
        Some(p) => p.to_ascii_lowercase(),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad("the protocol is tcp, udp or sctp"));
    }
    let number = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u16>().ok()
        } else {
            None
        }
    };
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (number(a), number(b)),
        None => (number(port), number(port)),
    };
    match (start, end) {
        (Some(start), Some(end)) if start <= end => {
            Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
        }
        _ => Err(bad(
            "a port is a number from 0 to 65535, or a range START-END",
        )),
    }
}

/// Docker checks the signal before writing it: a number, or a name with or without `SIG`.
fn check_signal(signal: &str) -> Result<(), String> {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ", "RTMIN", "RTMAX",
    ];
    if let Ok(n) = signal.parse::<u32>() {
        return if (1..=64).contains(&n) {
            Ok(())
        } else {
            Err(format!("invalid signal: {signal}"))
        };
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |prefix: &str, sign: char| {
        name.strip_prefix(prefix)
            .and_then(|n| n.strip_prefix(sign))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    if NAMES.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-') {
        Ok(())
    } else {
        Err(format!("invalid signal: {signal}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Substitution: Docker's word lexer (quotes, escapes, `$VAR`, `${VAR...}`).

struct Lex<'a, 'p> {
    chars: &'a [char],
    pos: usize,
    escape: char,
    parser: &'a Parser<'p>,
    depth: usize,
}

/// The words of a substituted text: substituted values and unquoted text split at whitespace,
/// quoted and escaped text kept whole.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    buf: String,
    in_word: bool,
}

impl Words {
    fn add(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw(c);
        }
    }
    fn add_raw(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add(c));
    }
    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

impl Lex<'_, '_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += c.is_some() as usize;
        c
    }

    fn grow(result: &mut String, piece: &str) -> Result<(), String> {
        if result.len() + piece.len() > MAX_WORD_BYTES {
            return Err(format!(
                "substitution makes a word longer than {} KiB",
                MAX_WORD_BYTES / 1024
            ));
        }
        result.push_str(piece);
        Ok(())
    }

    /// Reads up to `stop` (consumed) or the end: the text as one word and as words.
    fn until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    Self::grow(&mut result, &value)?;
                    words.add_str(&value);
                }
                '\'' => {
                    let value = self.single_quoted()?;
                    Self::grow(&mut result, &value)?;
                    words.add_raw_str(&value);
                }
                '"' => {
                    let value = self.double_quoted()?;
                    Self::grow(&mut result, &value)?;
                    words.add_raw_str(&value);
                }
                _ => {
                    self.pos += 1;
                    let c = if c == self.escape {
                        match self.next() {
                            Some(next) => {
                                words.add_raw(next);
                                next
                            }
                            None => break,
                        }
                    } else {
                        words.add(c);
                        c
                    };
                    Self::grow(&mut result, c.encode_utf8(&mut [0; 4]))?;
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    );
                }
                Some('\'') => return Ok(result),
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    Self::grow(&mut result, &value)?;
                }
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                c = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    Self::grow(&mut result, c.encode_utf8(&mut [0; 4]))?;
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.parser.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let value = self.parser.lookup(&name);
        let mut modifier = match self.next() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('}') => return Ok(value.unwrap_or_default()),
            Some(c) => c.to_string(),
        };
        let null_is_unset = modifier == ":";
        if null_is_unset {
            match self.next() {
                Some(c) => modifier.push(c),
                None => return Err("syntax error: missing '}'".to_string()),
            }
        }
        let op = modifier.chars().last().unwrap_or_default();
        if !matches!(op, '-' | '+' | '?') {
            return Err(format!(
                "unsupported modifier ({modifier}) in substitution: packer knows ${{VAR:-word}}, ${{VAR:+word}}, ${{VAR:?word}} and the forms without :"
            ));
        }
        if self.depth >= MAX_SUBSTITUTION_DEPTH {
            return Err(format!(
                "substitutions nested more than {MAX_SUBSTITUTION_DEPTH} deep"
            ));
        }
        self.depth += 1;
        let word = self.until(Some('}')).map_err(|e| {
            if self.peek().is_none() {
                "syntax error: missing '}'".to_string()
            } else {
                e
            }
        });
        self.depth -= 1;
        let (word, _) = word?;
        let set = match &value {
            Some(v) => !(null_is_unset && v.is_empty()),
            None => false,
        };
        match op {
            '-' => Ok(if set { value.unwrap_or_default() } else { word }),
            '+' => Ok(if set { word } else { String::new() }),
            _ => {
                if set {
                    Ok(value.unwrap_or_default())
                } else if !word.is_empty() {
                    Err(format!("{name}: {word}"))
                } else if value.is_none() {
                    Err(format!("{name}: is not allowed to be unset"))
                } else {
                    Err(format!("{name}: is not allowed to be empty"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
