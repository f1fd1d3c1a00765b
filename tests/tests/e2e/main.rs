//! End-to-end tests: one binary, one module per tool under test.
//!
//! Each test drives real tools (Docker Engine, docker-registry, skopeo, podman, umoci, runc)
//! through the harness in `tests/src`, and asserts what they printed or wrote.

mod base;
mod containerfile;
mod hostile;
mod image;
mod packer;
mod pusher;
mod tutorial;
mod xtask_registry;
