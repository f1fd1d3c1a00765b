//! Links the static (musl) release shell without unwind tables: about 55 KB of the
//! stripped binary that nothing reads, since the size-tuned `[profile.shell]` aborts on
//! panic. The same build sets `cfg(static_shell)`, which compiles in src/no_unwind.rs so
//! that libunwind stays out too (and with it std's backtrace symbolizer: about 275 KB).
//! Other builds (tests, the host debug build) keep the default layout and unwinder.

use std::env;

fn main() {
    let script = "link/no-unwind-tables.ld";
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(static_shell)");
    let musl = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|v| v == "musl");
    let release = env::var("PROFILE").is_ok_and(|v| v == "release");
    if musl && release {
        let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        println!("cargo:rustc-link-arg-bins=-T{dir}/{script}");
        // ...and without libunwind: src/no_unwind.rs stands in for it.
        println!("cargo:rustc-cfg=static_shell");
    }
}
