//! The end-to-end harness: real services and tools, started and found for the tests.
//!
//! Nothing here is a mock. `binfmt` sets up QEMU for foreign binaries, `docker` starts the real Docker Engine when it is not running,
//! `containerd` runs a containerd of the test's own, `registry` runs Debian's `docker-registry` in each auth mode, `token_server` is the
//! Docker-Hub-like token issuer the registry trusts, `proxy` injects faults in front of the
//! real registry, `hostile` is a deliberately malicious registry, `tools` finds the project's binaries and the system's tools (and fails,
//! never skips, when one is missing).

pub mod binfmt;
pub mod containerd;
pub mod docker;
pub mod hostile;
pub mod proxy;
pub mod registry;
pub mod token_server;
pub mod tools;
pub mod tutorial;
