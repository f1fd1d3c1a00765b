//! The real Docker Engine (and podman/runc settings that work in this sandbox).
