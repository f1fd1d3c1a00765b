//! Start processes and connect their descriptors: `posix_spawnp` for programs,
//! `fork` for a builtin that runs inside a pipeline, pipes, `waitpid`.
//!
//! `std::process::Command` would do, but it brings some 40 KB of machinery (a fork
//! fallback, an environment map) into a binary that is the whole image. This is
//! the small path a shell needs: search `PATH`, pass the arguments and the
//! environment, put the right files on descriptors 0, 1 and 2, reset the signals
//! the shell itself handles or ignores, wait.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;

/// A raw descriptor as a reader and writer, without buffering and without
/// closing it when dropped.
#[derive(Debug, Clone, Copy)]
pub struct Fd(pub RawFd);

impl io::Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: writes at most `buf.len()` bytes from `buf`.
        let n = unsafe { libc::write(self.0, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: reads at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// A pipe: (read end, write end), both closed in programs we start.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, which we then own.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

/// A copy of `fd` numbered 3 or above, closed in programs we start: moving the
/// shell's own 0, 1, 2 out of the way before they are rearranged (`2>&1 >f`).
pub fn dup_high(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor, which we then own.
    unsafe {
        let new = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
        if new < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(new))
    }
}

/// The signals the shell handles (SIGINT) or Rust ignores (SIGPIPE), which every
/// process we start gets back at their default, as from any shell.
fn default_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before it is used.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Starts `argv[0]` (searched on `PATH` unless it holds a `/`) with arguments
/// `argv[1..]`, environment `env` (`NAME=value`) and `fds[i]` as its descriptor i;
/// every `fds[i]` is either `i` itself or 3 and above. Returns its process id.
///
/// The error is the one `exec` gave: `NotFound` when there is no such program,
/// `PermissionDenied` when it cannot be executed.
pub fn spawn(argv: &[String], env: &[Vec<u8>], fds: [RawFd; 3]) -> io::Result<libc::pid_t> {
    let args = argv
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let env = env
        .iter()
        .map(|e| c_string(e))
        .collect::<io::Result<Vec<_>>>()?;
    let argv_ptrs = null_terminated(&args);
    let env_ptrs = null_terminated(&env);

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer handed to posix_spawnp points into `args`, `env`, the
    // file actions and the attribute block, all alive until the call returns; the
    // attribute block and file actions are initialised before use and destroyed after.
    let rc = unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawn_file_actions_init(&mut actions);
        for (target, &fd) in fds.iter().enumerate() {
            if fd != target as RawFd {
                libc::posix_spawn_file_actions_adddup2(&mut actions, fd, target as RawFd);
            }
        }
        let defaults = default_signals();
        libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
        libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSIGDEF as _);
        let rc = libc::posix_spawnp(
            &mut pid,
            args[0].as_ptr(),
            &actions,
            &attr,
            argv_ptrs.as_ptr(),
            env_ptrs.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        rc
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(pid)
}

/// Runs `child` in a copy of this process with `fds[i]` as its descriptor i (as
/// for [`spawn`]) and every other descriptor closed; the copy exits with the
/// status `child` returns. Returns its process id.
///
/// For a builtin inside a pipeline, so that it runs beside the other commands as
/// a program would. Call it only from a single-threaded process (the shell), or
/// where the child touches no lock another thread may hold.
pub fn fork(fds: [RawFd; 3], child: impl FnOnce() -> i32) -> io::Result<libc::pid_t> {
    // SAFETY: in the child, only descriptor and signal calls run before `child`,
    // and `_exit` ends it without running the parent's exit handlers.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid > 0 {
            return Ok(pid);
        }
        let defaults = default_signals();
        libc::sigprocmask(libc::SIG_UNBLOCK, &defaults, ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        for (target, &fd) in fds.iter().enumerate() {
            if fd != target as RawFd {
                libc::dup2(fd, target as RawFd);
            }
        }
        // Hold no pipe end open: a reader must see its end, a writer its SIGPIPE.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
        libc::_exit(child())
    }
}

/// Waits for `pid` to end and decodes its status: its exit status, or 128 + N
/// when killed by signal N.
pub fn wait(pid: libc::pid_t) -> io::Result<i32> {
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
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn path() -> Vec<Vec<u8>> {
        vec![format!("PATH={}", std::env::var("PATH").unwrap()).into_bytes()]
    }

    fn spawn_and_wait(argv: &[String], env: &[Vec<u8>]) -> io::Result<i32> {
        wait(spawn(argv, env, [0, 1, 2])?)
    }

    #[test]
    fn exit_status_and_signals() {
        assert_eq!(spawn_and_wait(&args(&["true"]), &path()).unwrap(), 0);
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", "exit 42"]), &path()).unwrap(),
            42
        );
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", "kill -TERM $$"]), &path()).unwrap(),
            128 + libc::SIGTERM
        );
    }

    #[test]
    fn missing_and_unrunnable_programs() {
        let e = spawn_and_wait(&args(&["no-such-penguin-program"]), &path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = spawn_and_wait(&args(&["/"]), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let e = spawn_and_wait(&args(&["echo", "a\0b"]), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn the_program_gets_the_environment_and_descriptors() {
        let (r, w) = pipe().unwrap();
        let mut env = path();
        env.push(b"PENGUIN_SPAWN=tux".to_vec());
        let script = "printf '%s|%s' \"$PENGUIN_SPAWN\" \"${HOME:-unset}\"";
        let pid = spawn(&args(&["sh", "-c", script]), &env, [0, w.as_raw_fd(), 2]).unwrap();
        drop(w);
        let mut seen = String::new();
        std::fs::File::from(r).read_to_string(&mut seen).unwrap();
        assert_eq!(wait(pid).unwrap(), 0);
        assert_eq!(seen, "tux|unset");
    }

    #[test]
    fn a_forked_child_writes_to_its_descriptors_and_exits_with_its_status() {
        let (r, w) = pipe().unwrap();
        let pid = fork([0, w.as_raw_fd(), 2], || {
            let _ = Fd(1).write_all(b"from the child");
            7
        })
        .unwrap();
        drop(w);
        let mut seen = String::new();
        std::fs::File::from(r).read_to_string(&mut seen).unwrap();
        assert_eq!(wait(pid).unwrap(), 7);
        assert_eq!(seen, "from the child");
    }

    /// This test process ignores SIGPIPE (Rust does that): the program must not.
    #[test]
    fn the_program_starts_with_default_sigpipe_and_sigint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("status");
        let script = format!("cat /proc/$$/status > {}", file.display());
        assert_eq!(
            spawn_and_wait(&args(&["sh", "-c", &script]), &path()).unwrap(),
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
