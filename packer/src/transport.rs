//! Image names as skopeo and podman users type them: `oci:DIR[:NAME]`,
//! `oci-archive:FILE[:NAME]`, `docker-archive:FILE[:NAME:TAG]`, `docker://HOST/REPO[:TAG][@DIGEST]`,
//! and the bare `DIR[:TAG]` / `FILE[:TAG]` / `HOST/REPO:TAG` that pusher has always taken.
//!
//! A path may hold colons: the whole text after the transport is a path when it exists;
//! otherwise the path ends at the first `:` whose prefix exists, else at the first `:` (as
//! skopeo splits it), so a new destination `oci:out:alpha:latest` is folder `out`, name
//! `alpha:latest`.

use crate::error::{Error, Result};
use crate::reference::Reference;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an image is read from or written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageName {
    /// An OCI layout folder, and the `org.opencontainers.image.ref.name` to select or write.
    Oci {
        /// The folder.
        dir: PathBuf,
        /// The name in `index.json` (`alpha:latest`, or a bare tag to select).
        name: Option<String>,
    },
    /// An OCI layout in a tar file.
    OciArchive {
        /// The tar file.
        file: PathBuf,
        /// The name in its `index.json`.
        name: Option<String>,
    },
    /// A `docker save` / `docker load` tar file.
    DockerArchive {
        /// The tar file.
        file: PathBuf,
        /// The `NAME:TAG` in its `manifest.json` RepoTags.
        name: Option<Reference>,
    },
    /// An image in a registry.
    Docker(Reference),
}

fn bad(input: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: "image name",
        value: input.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `PATH[:NAME]` as the module doc says.
fn split_path(rest: &str, exists: &dyn Fn(&Path) -> bool) -> (String, Option<String>) {
    if exists(Path::new(rest)) {
        return (rest.to_owned(), None);
    }
    let colons: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
    let at = colons
        .iter()
        .copied()
        .find(|&i| i > 0 && exists(Path::new(&rest[..i])))
        .or_else(|| colons.first().copied());
    match at {
        Some(i) if i > 0 && i + 1 < rest.len() => {
            (rest[..i].to_owned(), Some(rest[i + 1..].to_owned()))
        }
        Some(i) if i > 0 => (rest[..i].to_owned(), None),
        _ => (rest.to_owned(), None),
    }
}

impl ImageName {
    /// Parses what a user typed, looking at the file system only to tell a path with colons
    /// from a path and a name.
    pub fn parse(input: &str) -> Result<ImageName> {
        ImageName::parse_with(input, &|p: &Path| p.exists())
    }

    /// [`ImageName::parse`] with `exists` deciding which paths exist.
    pub fn parse_with(input: &str, exists: &dyn Fn(&Path) -> bool) -> Result<ImageName> {
        let path_of = |rest: &str, what: &str| -> Result<(PathBuf, Option<String>)> {
            if rest.is_empty() {
                return Err(bad(input, format!("{what} needs a path, e.g. {what}:out")));
            }
            let (path, name) = split_path(rest, exists);
            Ok((PathBuf::from(path), name))
        };
        if let Some(rest) = input.strip_prefix("docker://") {
            return Reference::parse(rest)
                .map(ImageName::Docker)
                .map_err(|e| bad(input, e.reason));
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, name) = path_of(rest, "oci")?;
            return Ok(ImageName::Oci { dir, name });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (file, name) = path_of(rest, "oci-archive")?;
            return Ok(ImageName::OciArchive { file, name });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (file, name) = path_of(rest, "docker-archive")?;
            let name = match name {
                Some(n) => Some(Reference::parse(&n).map_err(|e| bad(input, e.reason))?),
                None => None,
            };
            return Ok(ImageName::DockerArchive { file, name });
        }
        if let Some((scheme, _)) = input.split_once(':')
            && [
                "docker-daemon",
                "containers-storage",
                "dir",
                "http",
                "https",
            ]
            .contains(&scheme)
        {
            return Err(bad(
                input,
                "supported transports are oci:, oci-archive:, docker-archive: and docker://",
            ));
        }
        // bare: a path that exists (or whose part before a ':' does), else a reference
        let (path, name) = split_path(input, exists);
        if exists(Path::new(&path)) || input.starts_with(['/', '.']) {
            let path = PathBuf::from(path);
            return Ok(if path.is_file() {
                ImageName::OciArchive { file: path, name }
            } else {
                ImageName::Oci { dir: path, name }
            });
        }
        Reference::parse(input)
            .map(ImageName::Docker)
            .map_err(|e| bad(input, e.reason))
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = |n: &Option<String>| n.as_ref().map(|n| format!(":{n}")).unwrap_or_default();
        match self {
            ImageName::Oci { dir, name } => write!(f, "oci:{}{}", dir.display(), suffix(name)),
            ImageName::OciArchive { file, name } => {
                write!(f, "oci-archive:{}{}", file.display(), suffix(name))
            }
            ImageName::DockerArchive { file, name } => {
                let name = name.as_ref().map(ToString::to_string);
                write!(f, "docker-archive:{}{}", file.display(), suffix(&name))
            }
            ImageName::Docker(r) => write!(f, "docker://{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str, existing: &[&str]) -> ImageName {
        ImageName::parse_with(input, &|p: &Path| {
            existing.iter().any(|e| Path::new(e) == p)
        })
        .unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    fn oci(dir: &str, name: Option<&str>) -> ImageName {
        ImageName::Oci {
            dir: dir.into(),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn oci_paths_may_hold_colons() {
        assert_eq!(parse("oci:out", &[]), oci("out", None));
        assert_eq!(
            parse("oci:out:alpha:latest", &[]),
            oci("out", Some("alpha:latest"))
        );
        assert_eq!(parse("oci:/tmp/a:b", &["/tmp/a:b"]), oci("/tmp/a:b", None));
        assert_eq!(
            parse("oci:/tmp/a:b:alpha:latest", &["/tmp/a:b"]),
            oci("/tmp/a:b", Some("alpha:latest"))
        );
        assert_eq!(
            parse("oci:/tmp/a:v1", &["/tmp/a"]),
            oci("/tmp/a", Some("v1"))
        );
        assert_eq!(
            parse("oci-archive:x.tar:v1", &[]),
            ImageName::OciArchive {
                file: "x.tar".into(),
                name: Some("v1".into())
            }
        );
    }

    #[test]
    fn docker_references_keep_ports_and_digests() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let ImageName::Docker(r) = parse(&format!("docker://127.0.0.1:5000/a/b:v1@{digest}"), &[])
        else {
            panic!()
        };
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.tag.as_deref(),
                r.digest.as_deref()
            ),
            ("127.0.0.1:5000", "a/b", Some("v1"), Some(digest))
        );
        let ImageName::Docker(r) = parse("docker://[::1]:5000/a", &[]) else {
            panic!()
        };
        assert_eq!((r.registry.as_str(), r.tag), ("[::1]:5000", None));
        let ImageName::Docker(r) = parse("busybox", &[]) else {
            panic!()
        };
        assert_eq!(r.to_string(), "docker.io/library/busybox");
    }

    #[test]
    fn docker_archive_names_are_references() {
        let ImageName::DockerArchive { file, name } =
            parse("docker-archive:/tmp/x:y.tar:alpha:v1", &["/tmp/x:y.tar"])
        else {
            panic!()
        };
        assert_eq!(file, Path::new("/tmp/x:y.tar"));
        assert_eq!(name.unwrap().to_string(), "docker.io/library/alpha:v1");
    }

    #[test]
    fn bare_paths_and_references_keep_working() {
        assert_eq!(parse("img:v1", &["img"]), oci("img", Some("v1")));
        assert_eq!(parse("./new", &[]), oci("./new", None));
        let ImageName::Docker(r) = parse("localhost:5000/a:v1", &[]) else {
            panic!()
        };
        assert_eq!(r.registry, "localhost:5000");
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        for (input, says) in [
            ("oci:", "needs a path"),
            ("docker://", "invalid"),
            ("docker://Upper/x", "lowercase"),
            ("docker-daemon:x", "supported transports"),
            ("docker-archive:x.tar:a..b:1", "invalid image name"),
        ] {
            let err = ImageName::parse_with(input, &|_: &Path| false)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{input}: {err}");
        }
    }
}
