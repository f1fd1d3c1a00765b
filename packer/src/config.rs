//! config.json: platform, `config` (Env, Entrypoint, Cmd, WorkingDir, User, Labels),
//! `rootfs.diff_ids`, one `history` entry, and a `created` date that is never empty.

use crate::error::{Error, Result};
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os,
    RootFsBuilder,
};
use std::collections::BTreeMap;

/// The operating systems a platform may name: the OCI image spec's `os` values (Go's `GOOS`
/// list).
pub const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// The architectures a platform may name: the OCI image spec's `architecture` values (Go's
/// `GOARCH` list).
pub const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "arm64",
    "arm64be",
    "armbe",
    "loong64",
    "mips",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "mipsle",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// The variants an architecture may carry (`GOARM`, `GOARM64`, `GOAMD64`, `GO386`, ...): the
/// OCI image spec lists `arm` v6, v7, v8 and `arm64` v8; the others follow Go.
pub fn known_variants(arch: &str) -> &'static [&'static str] {
    match arch {
        "arm" | "armbe" => &["v5", "v6", "v7", "v8"],
        "arm64" | "arm64be" => &[
            "v8", "v8.0", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9",
            "v9", "v9.0", "v9.1", "v9.2", "v9.3", "v9.4", "v9.5",
        ],
        "amd64" => &["v1", "v2", "v3", "v4"],
        "386" => &["sse2", "softfloat"],
        "mips" | "mipsle" | "mips64" | "mips64le" => &["hardfloat", "softfloat"],
        "ppc64" | "ppc64le" => &["power8", "power9", "power10"],
        "riscv64" => &["rva20u64", "rva22u64", "rva23u64"],
        _ => &[],
    }
}

/// `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// GOOS-style operating system
    pub os: String,
    /// GOARCH-style architecture
    pub architecture: String,
    /// CPU variant, e.g. `v8`
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Platform> {
        let bad = |reason: &str| Error::Invalid {
            what: "platform",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("expected OS/ARCH or OS/ARCH/VARIANT"));
        }
        let ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 32
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad("each part must be lowercase letters, digits or _"));
        }
        if !KNOWN_OS.contains(&parts[0]) {
            return Err(bad(&format!(
                "unknown OS {}; known: {}",
                parts[0],
                KNOWN_OS.join(" ")
            )));
        }
        if !KNOWN_ARCH.contains(&parts[1]) {
            return Err(bad(&format!(
                "unknown architecture {}; known: {}",
                parts[1],
                KNOWN_ARCH.join(" ")
            )));
        }
        if let Some(v) = parts.get(2) {
            let variants = known_variants(parts[1]);
            if !variants.contains(v) {
                let known = if variants.is_empty() {
                    format!("{} takes no variant", parts[1])
                } else {
                    format!("known for {}: {}", parts[1], variants.join(" "))
                };
                return Err(bad(&format!("unknown variant {v}; {known}")));
            }
        }
        Ok(Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// The same platform in oci-spec's model (for index entries).
    pub fn to_oci(&self) -> oci_spec::image::Platform {
        let mut p = oci_spec::image::Platform::default();
        p.set_architecture(Arch::from(self.architecture.as_str()));
        p.set_os(Os::from(self.os.as_str()));
        p.set_variant(self.variant.clone());
        p
    }
}

/// What goes in the config besides the layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSettings {
    /// where the image runs
    pub platform: Platform,
    /// `K=V` environment
    pub env: Vec<String>,
    /// the entrypoint, if any
    pub entrypoint: Vec<String>,
    /// the default command, if any
    pub cmd: Vec<String>,
    /// the working directory
    pub workdir: Option<String>,
    /// the user to run as
    pub user: Option<String>,
    /// config labels
    pub labels: BTreeMap<String, String>,
    /// manifest annotations
    pub annotations: BTreeMap<String, String>,
    /// seconds since the Unix epoch: `SOURCE_DATE_EPOCH` or 0
    pub source_date_epoch: u64,
}

/// The last second RFC 3339 can write with a four-digit year: 9999-12-31T23:59:59Z.
pub const MAX_SOURCE_DATE_EPOCH: u64 = 253_402_300_799;

/// The image's timestamp: `SOURCE_DATE_EPOCH` (seconds since 1970) when set, else 0, so the
/// same bundle gives the same digests any day. Dates past the year 9999 are refused: RFC 3339
/// (and so skopeo, Docker, containerd) cannot read them.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(s) if s.is_empty() => Ok(0),
        Ok(s) => parse_source_date_epoch(&s),
    }
}

/// Parses a `SOURCE_DATE_EPOCH` value: seconds since 1970, at most
/// [`MAX_SOURCE_DATE_EPOCH`].
pub fn parse_source_date_epoch(s: &str) -> Result<u64> {
    let bad = |reason: &str| Error::Invalid {
        what: "SOURCE_DATE_EPOCH",
        value: s.to_owned(),
        reason: reason.to_owned(),
    };
    let secs = s
        .parse::<u64>()
        .map_err(|_| bad("expected seconds since 1970"))?;
    if secs > MAX_SOURCE_DATE_EPOCH {
        return Err(bad(&format!(
            "past the year 9999 (at most {MAX_SOURCE_DATE_EPOCH}, {})",
            rfc3339(MAX_SOURCE_DATE_EPOCH)
        )));
    }
    Ok(secs)
}

/// Checks an `--env` value: `K=V` with a non-empty name without `=`.
pub fn parse_env(s: &str) -> Result<String> {
    match s.split_once('=') {
        Some((k, _)) if !k.is_empty() && !k.contains(char::is_whitespace) => Ok(s.to_owned()),
        _ => Err(Error::Invalid {
            what: "env",
            value: s.to_owned(),
            reason: "expected KEY=VALUE".to_owned(),
        }),
    }
}

/// Splits a `--label` / `--annotation` value `K=V` (non-empty key).
pub fn parse_key_value(what: &'static str, s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(Error::Invalid {
            what,
            value: s.to_owned(),
            reason: "expected KEY=VALUE".to_owned(),
        }),
    }
}

/// RFC 3339 UTC for seconds since the epoch: `1970-01-01T00:00:00Z` for 0.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Builds config.json for layers with these diff ids.
pub fn image_config(settings: &ImageSettings, diff_ids: &[String]) -> Result<ImageConfiguration> {
    let spec = |source| Error::Spec {
        what: "image config".to_owned(),
        source,
    };
    let created = rfc3339(settings.source_date_epoch);
    let mut config = ConfigBuilder::default().build().map_err(spec)?;
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    config.set_env(some(&settings.env));
    config.set_entrypoint(some(&settings.entrypoint));
    config.set_cmd(some(&settings.cmd));
    config.set_working_dir(settings.workdir.clone());
    config.set_user(settings.user.clone());
    config.set_labels((!settings.labels.is_empty()).then(|| {
        settings
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }));
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(diff_ids.to_vec())
        .build()
        .map_err(spec)?;
    let history = HistoryBuilder::default()
        .created(created.clone())
        .created_by("packer build")
        .comment("the bundle, as one layer")
        .build()
        .map_err(spec)?;
    let mut builder = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(Arch::from(settings.platform.architecture.as_str()))
        .os(Os::from(settings.platform.os.as_str()))
        .config(config)
        .rootfs(rootfs)
        .history(vec![history]);
    if let Some(v) = &settings.platform.variant {
        builder = builder.variant(v.clone());
    }
    builder.build().map_err(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn platforms_parse_and_refuse() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "Linux/amd64", "a/b/c/d", ""] {
            let err = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(err.starts_with("invalid platform"), "{err}");
        }
        for good in [
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/arm64",
            "linux/386",
            "linux/s390x",
            "linux/ppc64le",
            "linux/riscv64",
            "windows/amd64",
            "darwin/arm64",
            "freebsd/amd64/v3",
            "wasip1/wasm",
        ] {
            assert_eq!(good.parse::<Platform>().unwrap().to_string(), good);
        }
        let err = "foo/bar".parse::<Platform>().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid platform \"foo/bar\": unknown OS foo; known: aix android")
                && err.contains(" linux ")
                && !err.contains('\n'),
            "{err}"
        );
        let err = "linux/bar".parse::<Platform>().unwrap_err().to_string();
        assert!(
            err.contains("unknown architecture bar; known: 386 amd64"),
            "{err}"
        );
        let err = "linux/arm/v9".parse::<Platform>().unwrap_err().to_string();
        assert!(
            err.contains("unknown variant v9; known for arm: v5 v6 v7 v8"),
            "{err}"
        );
        let err = "linux/s390x/v1"
            .parse::<Platform>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("s390x takes no variant"), "{err}");
    }

    #[test]
    fn source_date_epoch_stops_at_the_year_9999() {
        assert_eq!(parse_source_date_epoch("0").unwrap(), 0);
        assert_eq!(rfc3339(MAX_SOURCE_DATE_EPOCH), "9999-12-31T23:59:59Z");
        assert_eq!(
            parse_source_date_epoch("253402300799").unwrap(),
            MAX_SOURCE_DATE_EPOCH
        );
        let err = parse_source_date_epoch("253402300800")
            .unwrap_err()
            .to_string();
        assert!(err.contains("past the year 9999"), "{err}");
        assert!(parse_source_date_epoch("18446744073709551615").is_err());
        assert!(parse_source_date_epoch("-1").is_err());
    }

    #[test]
    fn config_has_created_and_diff_ids() {
        let s = ImageSettings {
            entrypoint: vec!["/bin/sh".into()],
            ..Default::default()
        };
        let c = image_config(&s, &["sha256:00".into()]).unwrap();
        let json = String::from_utf8(crate::json::to_canonical_vec(&c, "t").unwrap()).unwrap();
        assert!(
            json.contains(r#""created":"1970-01-01T00:00:00Z""#),
            "{json}"
        );
        assert!(json.contains(r#""diff_ids":["sha256:00"]"#), "{json}");
        assert!(json.contains(r#""Entrypoint":["/bin/sh"]"#), "{json}");
        assert!(!json.contains("Cmd"), "{json}");
    }
}
