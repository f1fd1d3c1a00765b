//! STAND-IN, replaced by the real parser (`containerfile.rs`, branch wip2/dockerfile) when it
//! lands: the agreed interface (`Instruction`, `Kind`, `ContainerfileError`, `parse`) with a
//! minimal line parser (continuations, comments, JSON or shell form, `$VAR`/`${VAR}` from
//! `ARG`/`ENV`), so the executor can be built and tested meanwhile.

use std::path::{Path, PathBuf};

/// One instruction and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line number
    pub line: usize,
    /// what it says
    pub kind: Kind,
}

/// The instructions packer knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `FROM scratch` or a transport name
    From {
        /// args substituted
        source: String,
    },
    /// `COPY`
    Copy {
        /// sources, relative to the context
        sources: Vec<String>,
        /// destination
        dest: String,
        /// `--chmod`
        chmod: Option<u32>,
        /// numeric `--chown`
        chown: Option<(u32, u32)>,
    },
    /// `ADD`
    Add {
        /// sources, relative to the context
        sources: Vec<String>,
        /// destination
        dest: String,
        /// `--chmod`
        chmod: Option<u32>,
        /// numeric `--chown`
        chown: Option<(u32, u32)>,
    },
    /// `ENV`
    Env(Vec<(String, String)>),
    /// `ARG`
    Arg {
        /// name
        name: String,
        /// default as written
        default: Option<String>,
    },
    /// `ENTRYPOINT`
    Entrypoint(Vec<String>),
    /// `CMD`
    Cmd(Vec<String>),
    /// `WORKDIR`
    Workdir(String),
    /// `USER`
    User(String),
    /// `LABEL`
    Label(Vec<(String, String)>),
    /// `EXPOSE`
    Expose(Vec<String>),
    /// `STOPSIGNAL`
    Stopsignal(String),
    /// anything else
    Unsupported {
        /// the instruction's name, upper case
        name: String,
    },
}

/// An error naming the file, the line and the instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {instruction}: {reason}", file.display())]
pub struct ContainerfileError {
    /// the Containerfile
    pub file: PathBuf,
    /// 1-based line
    pub line: usize,
    /// the instruction's name
    pub instruction: String,
    /// what is wrong
    pub reason: String,
}

fn substitute(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(j) => (&r[..j], &r[j + 1..]),
                None => ("", rest),
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            out.push('$');
        } else if let Some((_, v)) = vars.iter().rev().find(|(k, _)| k == name) {
            out.push_str(v);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn pairs(text: &str) -> Vec<(String, String)> {
    if !text.contains('=') {
        let (k, v) = text.split_once(' ').unwrap_or((text, ""));
        return vec![(k.to_owned(), v.trim().to_owned())];
    }
    text.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

/// Parses `text` (see the module doc).
pub fn parse(
    text: &str,
    file: &Path,
    build_args: &[(String, String)],
) -> Result<Vec<Instruction>, ContainerfileError> {
    let mut out = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if pending.is_empty() {
            start = i + 1;
        }
        if let Some(l) = line.strip_suffix('\\') {
            pending.push_str(l);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let (name, rest) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        let name = name.to_ascii_uppercase();
        let rest = substitute(rest.trim(), &vars);
        let err = |reason: &str| ContainerfileError {
            file: file.to_path_buf(),
            line: start,
            instruction: name.clone(),
            reason: reason.to_owned(),
        };
        let exec = |rest: &str| -> Vec<String> {
            serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
        };
        let copy = |rest: &str| -> Result<
            (Vec<String>, String, Option<u32>, Option<(u32, u32)>),
            ContainerfileError,
        > {
            let mut words: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(w) => w,
                Err(_) => rest.split_whitespace().map(str::to_owned).collect(),
            };
            let (mut chmod, mut chown) = (None, None);
            while words.first().is_some_and(|w| w.starts_with("--")) {
                let w = words.remove(0);
                if let Some(m) = w.strip_prefix("--chmod=") {
                    chmod = Some(u32::from_str_radix(m, 8).map_err(|_| err("bad --chmod"))?);
                } else if let Some(o) = w.strip_prefix("--chown=") {
                    let (u, g) = o.split_once(':').unwrap_or((o, o));
                    chown = Some((
                        u.parse().map_err(|_| err("bad --chown"))?,
                        g.parse().map_err(|_| err("bad --chown"))?,
                    ));
                } else {
                    return Err(err(&format!("unknown flag {w}")));
                }
            }
            let dest = words
                .pop()
                .ok_or_else(|| err("needs a source and a destination"))?;
            if words.is_empty() {
                return Err(err("needs a source and a destination"));
            }
            Ok((words, dest, chmod, chown))
        };
        let kind = match name.as_str() {
            "FROM" => Kind::From { source: rest },
            "COPY" => {
                let (sources, dest, chmod, chown) = copy(&rest)?;
                Kind::Copy {
                    sources,
                    dest,
                    chmod,
                    chown,
                }
            }
            "ADD" => {
                let (sources, dest, chmod, chown) = copy(&rest)?;
                Kind::Add {
                    sources,
                    dest,
                    chmod,
                    chown,
                }
            }
            "ENV" => {
                let p = pairs(&rest);
                vars.extend(p.iter().cloned());
                Kind::Env(p)
            }
            "ARG" => {
                let (n, d) = match rest.split_once('=') {
                    Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                    None => (rest.clone(), None),
                };
                let value = build_args
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.clone())
                    .or(d.clone());
                if let Some(v) = value {
                    vars.push((n.clone(), v));
                }
                Kind::Arg {
                    name: n,
                    default: d,
                }
            }
            "ENTRYPOINT" => Kind::Entrypoint(exec(&rest)),
            "CMD" => Kind::Cmd(exec(&rest)),
            "WORKDIR" => Kind::Workdir(rest),
            "USER" => Kind::User(rest),
            "LABEL" => Kind::Label(pairs(&rest)),
            "EXPOSE" => Kind::Expose(rest.split_whitespace().map(str::to_owned).collect()),
            "STOPSIGNAL" => Kind::Stopsignal(rest),
            _ => Kind::Unsupported { name },
        };
        out.push(Instruction { line: start, kind });
    }
    Ok(out)
}
