//! Applying build steps to an image config the way Docker's builder (20.10, the classic one)
//! applies a Dockerfile's: `ENV` adds or replaces by name, `ENTRYPOINT` clears a `Cmd` not set
//! in this build, `LABEL` merges, `WORKDIR` resolves against the previous one, every step adds
//! a `history` entry (`empty_layer` when it adds no layer) and every layer its diff id.
//!
//! The config is edited as JSON, not through oci-spec's struct, so whatever the base's config
//! holds that oci-spec does not model (`Healthcheck`, `OnBuild`, `Shell`, `ArgsEscaped`,
//! `author`...) survives untouched, as Docker keeps it. Only the fields that described the
//! base's own build container (`container`, `container_config`, `docker_version`) are dropped:
//! they would describe someone else's build.

use crate::config::Platform;
use crate::error::{Error, Result};
use oci_spec::image::{Digest, ImageConfiguration};
use serde_json::{Map, Value, json};

/// The `PATH` Docker's builder gives a stage whose image sets none (Linux's
/// `system.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How Docker's classic builder prefixes the `created_by` of a step that ran nothing.
const NOP: &str = "/bin/sh -c #(nop) ";

/// The most ports one `EXPOSE` range may name.
pub const MAX_EXPOSED_PORTS: usize = 1024;

/// One step of a build, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A new layer: its diff id is appended to `rootfs.diff_ids`, with a history entry.
    Layer {
        /// sha256 of the uncompressed layer
        diff_id: Digest,
        /// the history's `created_by`
        created_by: String,
        /// the history's `comment`, if any
        comment: Option<String>,
    },
    /// `ENV K=V ...`: each replaces the variable of that name in place, or is appended.
    Env(Vec<(String, String)>),
    /// `ARG NAME[=DEFAULT]`: changes nothing but the history (as Docker writes it).
    Arg {
        /// the name
        name: String,
        /// the default as written, if any
        default: Option<String>,
    },
    /// `ENTRYPOINT`: replaces it, and clears a `Cmd` that no step of this build set.
    Entrypoint(Vec<String>),
    /// `CMD`: replaces it.
    Cmd(Vec<String>),
    /// `WORKDIR`: absolute, or relative to the previous one.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `LABEL K=V ...`: merged into the labels.
    Label(Vec<(String, String)>),
    /// `EXPOSE PORT[/PROTO] ...` (`8000-8002/udp` ranges too).
    Expose(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
}

/// An image config being built: the base's (or an empty one for `FROM scratch`) with steps
/// applied. [`ConfigEditor::finish`] gives the bytes of config.json.
#[derive(Debug, Clone)]
pub struct ConfigEditor {
    doc: Map<String, Value>,
    created: String,
    cmd_set: bool,
    /// history entries are not written (the step's entry is its layer's)
    quiet: bool,
}

fn malformed(what: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

impl ConfigEditor {
    /// Starts from a base image's config.json bytes (`what` names it in errors). Every date
    /// written later is `created` (RFC 3339, from `SOURCE_DATE_EPOCH`).
    pub fn from_base(bytes: &[u8], what: &str, created: &str) -> Result<ConfigEditor> {
        // the model must accept it, so the result is a config every tool reads
        serde_json::from_slice::<ImageConfiguration>(bytes).map_err(|source| Error::Json {
            what: what.to_owned(),
            source,
        })?;
        let value: Value = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: what.to_owned(),
            source,
        })?;
        let Value::Object(mut doc) = value else {
            return Err(malformed(what, "an image config is a JSON object"));
        };
        for stale in ["container", "container_config", "docker_version"] {
            doc.remove(stale);
        }
        match doc.get("config") {
            None | Some(Value::Null) => {
                doc.insert("config".to_owned(), Value::Object(Map::new()));
            }
            Some(Value::Object(_)) => {}
            Some(_) => return Err(malformed(what, "\"config\" is not an object")),
        }
        let rootfs = doc
            .get_mut("rootfs")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| malformed(what, "no rootfs"))?;
        if !matches!(rootfs.get("diff_ids"), Some(Value::Array(_))) {
            rootfs.insert("diff_ids".to_owned(), json!([]));
        }
        if !matches!(doc.get("history"), Some(Value::Array(_))) {
            doc.insert("history".to_owned(), json!([]));
        }
        Ok(ConfigEditor {
            doc,
            created: created.to_owned(),
            cmd_set: false,
            quiet: false,
        })
    }

    /// Starts from nothing (`FROM scratch`): the platform, no layers, no history.
    pub fn scratch(platform: &Platform, created: &str) -> ConfigEditor {
        let mut doc = Map::new();
        doc.insert("architecture".to_owned(), json!(platform.architecture));
        doc.insert("os".to_owned(), json!(platform.os));
        if let Some(v) = &platform.variant {
            doc.insert("variant".to_owned(), json!(v));
        }
        doc.insert("config".to_owned(), Value::Object(Map::new()));
        doc.insert(
            "rootfs".to_owned(),
            json!({"type": "layers", "diff_ids": []}),
        );
        doc.insert("history".to_owned(), json!([]));
        ConfigEditor {
            doc,
            created: created.to_owned(),
            cmd_set: false,
            quiet: false,
        }
    }

    /// What Docker's builder does as a stage begins: a `PATH` when the image sets none.
    pub fn set_default_path(&mut self) {
        if self.env_index("PATH").is_none() {
            self.env_mut().push(json!(format!("PATH={DEFAULT_PATH}")));
        }
    }

    /// The platform the config names (`os`, `architecture`, `variant`).
    pub fn platform(&self) -> Platform {
        let s = |k: &str| self.doc.get(k).and_then(Value::as_str).map(str::to_owned);
        Platform {
            os: s("os").unwrap_or_default(),
            architecture: s("architecture").unwrap_or_default(),
            variant: s("variant").filter(|v| !v.is_empty()),
        }
    }

    /// The `config` object (Env, Cmd, ...).
    pub fn container_config(&self) -> &Map<String, Value> {
        self.doc
            .get("config")
            .and_then(Value::as_object)
            .expect("config is an object since construction")
    }

    fn config_mut(&mut self) -> &mut Map<String, Value> {
        self.doc
            .get_mut("config")
            .and_then(Value::as_object_mut)
            .expect("config is an object since construction")
    }

    fn env_mut(&mut self) -> &mut Vec<Value> {
        let config = self.config_mut();
        if !matches!(config.get("Env"), Some(Value::Array(_))) {
            config.insert("Env".to_owned(), json!([]));
        }
        config
            .get_mut("Env")
            .and_then(Value::as_array_mut)
            .expect("Env set to an array above")
    }

    fn env_index(&self, name: &str) -> Option<usize> {
        self.container_config()
            .get("Env")
            .and_then(Value::as_array)?
            .iter()
            .position(|v| {
                v.as_str()
                    .is_some_and(|e| e.split_once('=').map_or(e, |(k, _)| k) == name)
            })
    }

    fn history(&mut self, created_by: String, comment: Option<&str>, empty_layer: bool) {
        if self.quiet {
            return;
        }
        let mut entry = Map::new();
        entry.insert("created".to_owned(), json!(self.created));
        entry.insert("created_by".to_owned(), json!(created_by));
        if let Some(c) = comment {
            entry.insert("comment".to_owned(), json!(c));
        }
        if empty_layer {
            entry.insert("empty_layer".to_owned(), json!(true));
        }
        self.doc
            .get_mut("history")
            .and_then(Value::as_array_mut)
            .expect("history is an array since construction")
            .push(Value::Object(entry));
    }

    /// Applies a config step whose history entry is a layer's (Docker's `WORKDIR`, which
    /// creates the folder in a layer of its own): the config changes, the history does not.
    pub fn apply_without_history(&mut self, step: &Step) -> Result<()> {
        self.quiet = true;
        let done = self.apply(step);
        self.quiet = false;
        done
    }

    /// Applies one step, adding its history entry.
    pub fn apply(&mut self, step: &Step) -> Result<()> {
        let nop = |text: String| format!("{NOP} {text}");
        match step {
            Step::Layer {
                diff_id,
                created_by,
                comment,
            } => {
                self.doc
                    .get_mut("rootfs")
                    .and_then(Value::as_object_mut)
                    .and_then(|r| r.get_mut("diff_ids"))
                    .and_then(Value::as_array_mut)
                    .expect("diff_ids is an array since construction")
                    .push(json!(diff_id.to_string()));
                self.history(created_by.clone(), comment.as_deref(), false);
                return Ok(());
            }
            Step::Env(vars) => {
                let mut message = "ENV".to_owned();
                for (k, v) in vars {
                    check_env_name(k)?;
                    let var = format!("{k}={v}");
                    message.push(' ');
                    message.push_str(&var);
                    match self.env_index(k) {
                        Some(i) => self.env_mut()[i] = json!(var),
                        None => self.env_mut().push(json!(var)),
                    }
                }
                self.history(nop(message), None, true);
            }
            Step::Arg { name, default } => {
                let message = match default {
                    Some(d) => format!("ARG {name}={d}"),
                    None => format!("ARG {name}"),
                };
                self.history(nop(message), None, true);
            }
            Step::Entrypoint(args) => {
                let config = self.config_mut();
                config.insert("Entrypoint".to_owned(), json!(args));
                if !self.cmd_set {
                    self.config_mut().remove("Cmd");
                }
                self.history(
                    nop(format!("ENTRYPOINT {}", go_quote_list(args))),
                    None,
                    true,
                );
            }
            Step::Cmd(args) => {
                self.config_mut().insert("Cmd".to_owned(), json!(args));
                self.cmd_set = true;
                self.history(nop(format!("CMD {}", go_quote_list(args))), None, true);
            }
            Step::Workdir(dir) => {
                if dir.is_empty() {
                    return Err(Error::Invalid {
                        what: "workdir",
                        value: String::new(),
                        reason: "empty".to_owned(),
                    });
                }
                let current = self
                    .container_config()
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let resolved = if dir.starts_with('/') {
                    dir.clone()
                } else {
                    clean_path(&format!("/{current}/{dir}"))
                };
                self.config_mut()
                    .insert("WorkingDir".to_owned(), json!(resolved));
                // Docker's classic builder writes this one with a single space
                self.history(format!("{NOP}WORKDIR {resolved}"), None, true);
            }
            Step::User(user) => {
                self.config_mut().insert("User".to_owned(), json!(user));
                self.history(nop(format!("USER {user}")), None, true);
            }
            Step::Label(labels) => {
                let config = self.config_mut();
                if !matches!(config.get("Labels"), Some(Value::Object(_))) {
                    config.insert("Labels".to_owned(), Value::Object(Map::new()));
                }
                let map = config
                    .get_mut("Labels")
                    .and_then(Value::as_object_mut)
                    .expect("Labels set to an object above");
                let mut message = "LABEL".to_owned();
                for (k, v) in labels {
                    if k.is_empty() {
                        return Err(Error::Invalid {
                            what: "label",
                            value: format!("={v}"),
                            reason: "a label needs a name".to_owned(),
                        });
                    }
                    map.insert(k.clone(), json!(v));
                    message.push_str(&format!(" {k}={v}"));
                }
                self.history(nop(message), None, true);
            }
            Step::Expose(ports) => {
                let mut keys = Vec::new();
                for p in ports {
                    keys.extend(parse_port_spec(p)?);
                }
                let config = self.config_mut();
                if !matches!(config.get("ExposedPorts"), Some(Value::Object(_))) {
                    config.insert("ExposedPorts".to_owned(), Value::Object(Map::new()));
                }
                let map = config
                    .get_mut("ExposedPorts")
                    .and_then(Value::as_object_mut)
                    .expect("ExposedPorts set to an object above");
                for k in keys {
                    map.insert(k, json!({}));
                }
                // Docker writes the words sorted, `80/tcp` as the `80` it was typed as
                let mut words: Vec<&str> = ports
                    .iter()
                    .map(|p| p.strip_suffix("/tcp").unwrap_or(p))
                    .collect();
                words.sort_unstable();
                self.history(nop(format!("EXPOSE {}", words.join(" "))), None, true);
            }
            Step::StopSignal(signal) => {
                check_signal(signal)?;
                self.config_mut()
                    .insert("StopSignal".to_owned(), json!(signal));
                self.history(nop(format!("STOPSIGNAL {signal}")), None, true);
            }
        }
        Ok(())
    }

    /// The diff ids so far.
    pub fn diff_ids(&self) -> Vec<String> {
        self.doc
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// config.json as canonical JSON, `created` set to the build's date. The result parses
    /// as oci-spec's [`ImageConfiguration`] (checked).
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.doc.insert("created".to_owned(), json!(self.created));
        let bytes = crate::json::to_canonical_vec(&Value::Object(self.doc), "image config")?;
        serde_json::from_slice::<ImageConfiguration>(&bytes).map_err(|source| Error::Json {
            what: "the image config built".to_owned(),
            source,
        })?;
        Ok(bytes)
    }
}

/// An environment variable's name: non-empty, no `=`, no whitespace.
fn check_env_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('=') || name.contains(char::is_whitespace) {
        return Err(Error::Invalid {
            what: "env",
            value: name.to_owned(),
            reason: "a variable name is non-empty, without = or spaces".to_owned(),
        });
    }
    Ok(())
}

/// `/a/./b/../c/` -> `/a/c` (Go's `filepath.Clean` of an absolute path).
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/udp`, `8000-8002/tcp` -> the `ExposedPorts` keys (`80/tcp`, ...), as Docker's
/// `nat.ParsePortSpecs` reads an `EXPOSE` word.
pub fn parse_port_spec(spec: &str) -> Result<Vec<String>> {
    let bad = |reason: &str| Error::Invalid {
        what: "port",
        value: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(bad("the protocol is tcp, udp or sctp"));
    }
    let num = |s: &str| -> Result<u16> {
        s.parse::<u16>()
            .map_err(|_| bad("expected a port number from 0 to 65535, or a range A-B"))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(ports)?;
            (p, p)
        }
    };
    if start > end {
        return Err(bad("a range goes from the lower port to the higher"));
    }
    if usize::from(end - start) >= MAX_EXPOSED_PORTS {
        return Err(bad(&format!(
            "a range exposes at most {MAX_EXPOSED_PORTS} ports"
        )));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// The signal names Linux knows (with or without `SIG`), or a number from 1 to 64, as
/// Docker's `signal.ParseSignal` accepts them.
fn check_signal(signal: &str) -> Result<()> {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    if let Ok(n) = signal.parse::<u32>()
        && (1..=64).contains(&n)
    {
        return Ok(());
    }
    let name = signal.strip_prefix("SIG").unwrap_or(signal);
    let rt = name
        .strip_prefix("RTMIN")
        .or_else(|| name.strip_prefix("RTMAX"))
        .is_some_and(|n| n.is_empty() || n.trim_start_matches(['+', '-']).parse::<u8>().is_ok());
    if NAMES.contains(&name) || rt {
        return Ok(());
    }
    Err(Error::Invalid {
        what: "stop signal",
        value: signal.to_owned(),
        reason: "expected a signal name (SIGTERM, TERM) or a number from 1 to 64".to_owned(),
    })
}

/// A string as Go's `%q` writes it (`strconv.Quote`), as in Docker's history lines.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list as Go's `%q` writes a `[]string`: `["/bin/sh" "-c" "echo hi"]`.
pub fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00Z","docker_version":"20.10.5","container_config":{"Cmd":["x"]},"config":{"Env":["PATH=/usr/bin:/bin","HOME=/root"],"Cmd":["sh"],"Labels":{"a":"1"},"Healthcheck":{"Test":["CMD","true"]}},"rootfs":{"type":"layers","diff_ids":["sha256:aaaa"]},"history":[{"created":"2020-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop) ADD file:x in / "}]}"#;

    fn editor() -> ConfigEditor {
        ConfigEditor::from_base(BASE.as_bytes(), "base", "1970-01-01T00:00:00Z").unwrap()
    }

    fn done(e: ConfigEditor) -> Value {
        serde_json::from_slice(&e.finish().unwrap()).unwrap()
    }

    #[test]
    fn env_replaces_by_name_in_place_and_keeps_the_base_path() {
        let mut e = editor();
        e.apply(&Step::Env(vec![
            ("HOME".into(), "/home/p".into()),
            ("A".into(), "b=c".into()),
        ]))
        .unwrap();
        let v = done(e);
        assert_eq!(
            v["config"]["Env"],
            json!(["PATH=/usr/bin:/bin", "HOME=/home/p", "A=b=c"])
        );
        assert_eq!(
            v["history"][1],
            json!({"created":"1970-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop)  ENV HOME=/home/p A=b=c","empty_layer":true})
        );
        // what oci-spec does not model survives; the base's build container does not
        assert_eq!(v["config"]["Healthcheck"], json!({"Test":["CMD","true"]}));
        assert!(v.get("container_config").is_none() && v.get("docker_version").is_none());
        assert_eq!(v["created"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn entrypoint_clears_the_base_cmd_unless_cmd_is_set_in_this_build() {
        let mut e = editor();
        e.apply(&Step::Entrypoint(vec!["/bin/penguinshell".into()]))
            .unwrap();
        let v = done(e);
        assert_eq!(v["config"]["Entrypoint"], json!(["/bin/penguinshell"]));
        assert!(v["config"].get("Cmd").is_none(), "{v}");
        assert_eq!(
            v["history"][1]["created_by"],
            r#"/bin/sh -c #(nop)  ENTRYPOINT ["/bin/penguinshell"]"#
        );
        let mut e = editor();
        e.apply(&Step::Cmd(vec!["-c".into(), "echo \"hi\"".into()]))
            .unwrap();
        e.apply(&Step::Entrypoint(vec!["/bin/sh".into()])).unwrap();
        let v = done(e);
        assert_eq!(v["config"]["Cmd"], json!(["-c", "echo \"hi\""]));
        assert_eq!(
            v["history"][1]["created_by"],
            r#"/bin/sh -c #(nop)  CMD ["-c" "echo \"hi\""]"#
        );
    }

    #[test]
    fn layers_append_diff_ids_and_history_without_empty_layer() {
        let mut e = editor();
        let d = crate::digest::sha256_digest(b"layer");
        e.apply(&Step::Layer {
            diff_id: d.clone(),
            created_by: "/bin/sh -c #(nop) COPY file:x in /bin/ ".into(),
            comment: None,
        })
        .unwrap();
        assert_eq!(e.diff_ids(), ["sha256:aaaa".to_owned(), d.to_string()]);
        let v = done(e);
        assert_eq!(
            v["history"][1],
            json!({"created":"1970-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop) COPY file:x in /bin/ "})
        );
    }

    #[test]
    fn workdir_labels_user_expose_stopsignal_arg() {
        let mut e = ConfigEditor::scratch(&Platform::default(), "1970-01-01T00:00:00Z");
        e.set_default_path();
        for step in [
            Step::Workdir("/app".into()),
            Step::Workdir("sub/../x".into()),
            Step::User("1000:1000".into()),
            Step::Label(vec![("b".into(), "2".into())]),
            Step::Label(vec![("a".into(), "1 2".into())]),
            Step::Expose(vec!["80".into(), "53/udp".into(), "8000-8001".into()]),
            Step::StopSignal("SIGINT".into()),
            Step::Arg {
                name: "V".into(),
                default: Some("1".into()),
            },
        ] {
            e.apply(&step).unwrap();
        }
        assert_eq!(e.platform().to_string(), "linux/amd64");
        let v = done(e);
        assert_eq!(
            v["config"],
            json!({
                "Env": [format!("PATH={DEFAULT_PATH}")],
                "WorkingDir": "/app/x",
                "User": "1000:1000",
                "Labels": {"a": "1 2", "b": "2"},
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
                "StopSignal": "SIGINT",
            })
        );
        let by: Vec<&str> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["created_by"].as_str().unwrap())
            .collect();
        assert_eq!(
            by,
            [
                "/bin/sh -c #(nop) WORKDIR /app",
                "/bin/sh -c #(nop) WORKDIR /app/x",
                "/bin/sh -c #(nop)  USER 1000:1000",
                "/bin/sh -c #(nop)  LABEL b=2",
                "/bin/sh -c #(nop)  LABEL a=1 2",
                "/bin/sh -c #(nop)  EXPOSE 53/udp 80 8000-8001",
                "/bin/sh -c #(nop)  STOPSIGNAL SIGINT",
                "/bin/sh -c #(nop)  ARG V=1",
            ]
        );
        assert_eq!(v["rootfs"], json!({"type": "layers", "diff_ids": []}));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let mut e = editor();
        for (step, want) in [
            (Step::Expose(vec!["http".into()]), "invalid port \"http\""),
            (Step::Expose(vec!["1-5000".into()]), "at most 1024"),
            (Step::Expose(vec!["80/icmp".into()]), "tcp, udp or sctp"),
            (Step::StopSignal("SIGNOPE".into()), "invalid stop signal"),
            (Step::Env(vec![("".into(), "x".into())]), "invalid env"),
            (Step::Workdir(String::new()), "invalid workdir"),
        ] {
            let err = e.apply(&step).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        for ok in ["TERM", "SIGRTMIN+3", "9"] {
            check_signal(ok).unwrap();
        }
        let err = ConfigEditor::from_base(b"[1]", "base.json", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("base.json"), "{err}");
    }

    #[test]
    fn go_quoting_matches_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo hi".into()]),
            r#"["/bin/sh" "-c" "echo hi"]"#
        );
    }
}
