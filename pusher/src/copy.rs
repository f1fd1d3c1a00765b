//! `pusher copy SRC DST`: one image (or a whole index) from a layout or a registry to a
//! layout or a registry. Every blob is verified on the way (packer's layout writer checks
//! digest and size, a registry's `Docker-Content-Digest` is checked against ours); blobs go
//! before manifests, an index's manifests before the index. Between two repositories of one
//! registry, blobs are mounted instead of uploaded.

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::progress::{BlobOutcome, Progress};
use crate::pull::{get_blob, get_manifest, open_blob};
use crate::push::{for_each_parallel, push_manifest};
use crate::upload::{Blob, UploadOptions, upload_blob, upload_from_reader};
use packer::model::{Descriptor, Manifest, platform_string};
use packer::sink::DiskSink;
use packer::source::ImageSource;
use std::sync::Mutex;

/// Where an image is read from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// An image on disk: a layout folder or an archive, read through packer's
    /// [`ImageSource`] (see [`packer::source::open`]).
    Disk(&'a dyn ImageSource),
    /// An image in a registry (the client's reference).
    Registry(&'a Client),
}

/// Where an image is written.
pub enum Sink<'a> {
    /// A layout folder or an archive (see [`packer::sink::DiskSink::open`]).
    Disk(DiskSink),
    /// A registry (the client's reference).
    Registry(&'a Client),
}

/// How to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Blobs in flight at a time.
    pub jobs: usize,
    /// Copy only this platform of an index (`os/arch[/variant]`); all of them when `None`.
    pub platform: Option<String>,
    /// Upload options (chunk size) for a registry sink.
    pub upload: UploadOptions,
}

/// What a copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    /// The digest of the top manifest written (what `copy` prints).
    pub digest: String,
    /// Blobs sent or fetched.
    pub copied: usize,
    /// Blobs the destination had (verified).
    pub existed: usize,
    /// Blobs mounted from the source repository.
    pub mounted: usize,
}

fn source_error(source: &Source<'_>, e: packer::Error) -> Error {
    let name = match source {
        Source::Disk(image) => image.name(),
        Source::Registry(c) => c.reference.to_string(),
    };
    Error::Image {
        source_name: name,
        source: e,
    }
}

fn read_manifest(source: &Source<'_>, desc: Option<&Descriptor>) -> Result<Manifest> {
    match source {
        Source::Disk(image) => match desc {
            Some(d) => image.manifest(d),
            None => image.top(),
        }
        .map_err(|e| source_error(source, e)),
        Source::Registry(client) => {
            let manifest = match desc {
                Some(d) => get_manifest(client, d.digest().as_ref())?,
                None => get_manifest(client, client.reference.manifest_ref())?,
            };
            if let Some(d) = desc {
                manifest
                    .check(d, &format!("manifest {}", d.digest()))
                    .map_err(|e| source_error(source, e))?;
            }
            Ok(manifest)
        }
    }
}

/// The platform `os/arch[/variant]` of `want`, matched against an index entry.
fn platform_matches(entry: &Descriptor, want: &str) -> bool {
    let Some(p) = entry.platform() else {
        return false;
    };
    let have = platform_string(p);
    have == want || (want.matches('/').count() == 1 && have.starts_with(&format!("{want}/")))
}

/// Copies the image `source` names to `sink`; see the module doc.
pub fn copy_image(
    source: Source<'_>,
    sink: Sink<'_>,
    options: &CopyOptions,
    progress: &Progress,
) -> Result<CopyReport> {
    let mut top = read_manifest(&source, None)?;
    if let Some(want) = &options.platform
        && top.is_index()
    {
        let available: Vec<String> = top
            .children()
            .iter()
            .filter_map(|d| d.platform().as_ref().map(platform_string))
            .collect();
        let Some(entry) = top
            .children()
            .iter()
            .find(|d| platform_matches(d, want))
            .cloned()
        else {
            return Err(source_error(
                &source,
                packer::Error::Invalid {
                    what: "platform",
                    value: want.clone(),
                    reason: format!("not in the index; it has {}", available.join(", ")),
                },
            ));
        };
        top = read_manifest(&source, Some(&entry))?;
    }
    let mut children = Vec::new();
    for d in top.children() {
        let child = read_manifest(&source, Some(d))?;
        if child.is_index() {
            return Err(source_error(
                &source,
                packer::Error::Malformed {
                    what: format!("index {}", top.digest()),
                    reason: "nested indexes are not supported".to_owned(),
                },
            ));
        }
        children.push(child);
    }
    let mut blobs: Vec<Descriptor> = Vec::new();
    for m in children.iter().chain(std::iter::once(&top)) {
        for b in m.blobs() {
            if !blobs.iter().any(|x| x.digest() == b.digest()) {
                blobs.push(b);
            }
        }
    }

    let report = Mutex::new(CopyReport::default());
    for_each_parallel(&blobs, options.jobs, |desc| {
        let outcome = copy_blob(&source, &sink, desc, options, progress)?;
        let mut r = report.lock().expect("report");
        match outcome {
            BlobOutcome::Exists => r.existed += 1,
            BlobOutcome::Mounted => r.mounted += 1,
            BlobOutcome::Pushed | BlobOutcome::Pulled => r.copied += 1,
        }
        Ok(())
    })?;

    match sink {
        Sink::Disk(disk) => {
            let target = disk.target().display().to_string();
            disk.commit(&top, &children)
                .map_err(|e| Error::Write { target, source: e })?
        }
        Sink::Registry(client) => {
            for m in &children {
                push_manifest(client, m.digest().as_ref(), m)?;
            }
            let target = if client.reference.digest.is_some() {
                top.digest().to_string()
            } else {
                client.reference.manifest_ref().to_string()
            };
            push_manifest(client, &target, &top)?;
        }
    }
    let mut report = report.into_inner().expect("report");
    report.digest = top.digest().to_string();
    Ok(report)
}

/// One blob from source to sink, verified on the way.
fn copy_blob(
    source: &Source<'_>,
    sink: &Sink<'_>,
    desc: &Descriptor,
    options: &CopyOptions,
    progress: &Progress,
) -> Result<BlobOutcome> {
    let digest = desc.digest().to_string();
    let bp = progress.blob(&digest, desc.size());
    match (source, sink) {
        (_, Sink::Disk(disk)) => {
            let layout = disk.layout();
            let write_error = |e: packer::Error| Error::Write {
                target: disk.target().display().to_string(),
                source: e,
            };
            if layout.has_verified_blob(desc).map_err(write_error)? {
                bp.finish(BlobOutcome::Exists);
                return Ok(BlobOutcome::Exists);
            }
            match source {
                Source::Registry(client) => get_blob(client, layout, desc, &bp)?,
                Source::Disk(image) => {
                    let reader = image.open_blob(desc).map_err(|e| source_error(source, e))?;
                    layout.write_blob(desc, reader).map_err(write_error)?;
                }
            }
            bp.finish(BlobOutcome::Pulled);
            Ok(BlobOutcome::Pulled)
        }
        (Source::Disk(image), Sink::Registry(client)) => match image.blob_file(desc) {
            Some(path) => {
                let blob = Blob {
                    digest: &digest,
                    size: desc.size(),
                    path: &path,
                };
                upload_blob(client, &blob, &options.upload, bp)
            }
            None => {
                let mut open = || image.open_blob(desc).map_err(|e| source_error(source, e));
                upload_from_reader(client, &digest, desc.size(), &mut open, &options.upload, bp)
            }
        },
        (Source::Registry(from), Sink::Registry(to)) => {
            // one registry: a mount; another: streamed from one to the other, nothing on disk
            let options = UploadOptions {
                mount_from: (from.reference.registry == to.reference.registry)
                    .then(|| from.reference.repository.clone()),
                ..options.upload.clone()
            };
            let mut open = || open_blob(from, desc);
            upload_from_reader(to, &digest, desc.size(), &mut open, &options, bp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_by_os_arch_and_variant() {
        let entry: Descriptor = serde_json::from_str(
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}"#,
        )
        .unwrap();
        assert!(platform_matches(&entry, "linux/arm64"));
        assert!(platform_matches(&entry, "linux/arm64/v8"));
        assert!(!platform_matches(&entry, "linux/arm64/v7"));
        assert!(!platform_matches(&entry, "linux/amd64"));
        let mut bare = entry.clone();
        bare.set_platform(None);
        assert!(!platform_matches(&bare, "linux/arm64"));
    }
}
