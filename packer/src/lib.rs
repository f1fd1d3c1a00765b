//! packer: a filesystem bundle in, a byte-reproducible OCI/Docker image out.
