//! Start a program and wait for it, with `posix_spawnp` and `waitpid`.
//!
//! `std::process::Command` would do, but it brings some 40 KB of machinery (pipes,
//! a fork fallback, an environment map) into a binary that is the whole image.
//! This is the small path a shell needs: search `PATH`, pass the arguments and the
//! environment, reset the signals the shell itself handles or ignores, wait.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::ptr;

/// Runs `argv[0]` with arguments `argv[1..]` and the process environment with
/// `overrides` applied; returns its exit status (128 + N when killed by signal N).
///
/// The error is the one `exec` gave: `NotFound` when there is no such program,
/// `PermissionDenied` when it cannot be executed.
pub fn spawn_and_wait(argv: &[String], overrides: &[(String, String)]) -> io::Result<i32> {
    let args = argv
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let mut env = Vec::new();
    for (key, value) in std::env::vars_os() {
        if !overrides
            .iter()
            .any(|(k, _)| k.as_bytes() == key.as_bytes())
        {
            env.push(c_string(
                &[key.as_bytes(), b"=", value.as_bytes()].concat(),
            )?);
        }
    }
    for (key, value) in overrides {
        env.push(c_string(format!("{key}={value}").as_bytes())?);
    }
    let argv_ptrs = null_terminated(&args);
    let env_ptrs = null_terminated(&env);

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer handed to posix_spawnp points into `args`, `env` and
    // the attribute block, all alive until the call returns; the attribute block is
    // initialised before use and destroyed after.
    let rc = unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let rc = libc::posix_spawnattr_init(&mut attr);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // Rust ignores SIGPIPE and the REPL handles SIGINT: give the program the
        // default behaviour of both, as any shell does.
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        libc::sigaddset(&mut defaults, libc::SIGPIPE);
        libc::sigaddset(&mut defaults, libc::SIGINT);
        libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
        libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSIGDEF as _);
        let rc = libc::posix_spawnp(
            &mut pid,
            args[0].as_ptr(),
            ptr::null(),
            &attr,
            argv_ptrs.as_ptr(),
            env_ptrs.as_ptr(),
        );
        libc::posix_spawnattr_destroy(&mut attr);
        rc
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    wait(pid)
}

/// Waits for `pid` to end and decodes its status.
fn wait(pid: libc::pid_t) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes one int into `status`.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != -1 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    })
}

/// A C string; an argument holding a NUL byte cannot be passed to a program.
fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "argument holds a NUL byte"))
}

/// The `char *[]` with a final null pointer that exec functions take.
fn null_terminated(strings: &[CString]) -> Vec<*mut libc::c_char> {
    let mut ptrs: Vec<*mut libc::c_char> = strings.iter().map(|s| s.as_ptr().cast_mut()).collect();
    ptrs.push(ptr::null_mut());
    ptrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exit_status_and_signals() {
        assert_eq!(spawn_and_wait(&args(&["true"]), &[]).unwrap(), 0);
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", "exit 42"]), &[]).unwrap(),
            42
        );
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", "kill -TERM $$"]), &[]).unwrap(),
            128 + libc::SIGTERM
        );
    }

    #[test]
    fn missing_and_unrunnable_programs() {
        let e = spawn_and_wait(&args(&["no-such-penguin-program"]), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = spawn_and_wait(&args(&["/"]), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let e = spawn_and_wait(&args(&["echo", "a\0b"]), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn the_program_gets_the_environment_with_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seen");
        let script = format!(
            "printf '%s|%s' \"$PENGUIN_SPAWN\" \"${{PATH:+set}}\" > {}",
            file.display()
        );
        let overrides = [("PENGUIN_SPAWN".to_string(), "tux".to_string())];
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", &script]), &overrides).unwrap(),
            0
        );
        assert_eq!(std::fs::read_to_string(file).unwrap(), "tux|set");
    }

    /// This test process ignores SIGPIPE (Rust does that): the program must not.
    #[test]
    fn the_program_starts_with_default_sigpipe_and_sigint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("status");
        let script = format!("cat /proc/$$/status > {}", file.display());
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", &script]), &[]).unwrap(),
            0
        );
        let status = std::fs::read_to_string(file).unwrap();
        let ignored = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .unwrap();
        let pipe_and_int = (1 << (libc::SIGPIPE - 1)) | (1 << (libc::SIGINT - 1));
        assert_eq!(ignored & pipe_and_int, 0, "{status}");
    }
}
