//! A session in a pseudo-terminal, as a person would have it: the prompt, `ls`,
//! Tab completion, Ctrl-C, Ctrl-D. No sleeps: every step waits for the output it
//! expects, with a timeout, and fails showing what the terminal got instead.

use super::SHELL;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::pty::{Winsize, openpty};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const PROMPT: &str = "🐧 ";
const TIMEOUT: Duration = Duration::from_secs(20);

/// The shell running on the slave side of a pty; we hold the master side.
struct Session {
    child: Child,
    master: File,
    chunks: Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Session {
    fn start(cwd: &Path) -> Session {
        Session::start_with_width(cwd, 100)
    }

    /// Starts the shell on a terminal `cols` columns wide.
    fn start_with_width(cwd: &Path, cols: u16) -> Session {
        let size = Winsize {
            ws_row: 24,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // openpty's descriptors are inherited by every program this test process
        // starts, until marked close-on-exec. A shell of another test holding our
        // slave side would keep our terminal open after our shell exits; so mark
        // them, and let no other session start in between.
        static START: Mutex<()> = Mutex::new(());
        let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
        let pty = openpty(Some(&size), None).expect("openpty");
        for fd in [pty.master.as_fd(), pty.slave.as_fd()] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("set close-on-exec");
        }
        let mut command = Command::new(SHELL);
        // SAFETY: setsid and ioctl are async-signal-safe. The terminal becomes the
        // shell's controlling terminal, as under `docker run -it`: Ctrl-C in
        // canonical mode is then a SIGINT to its foreground process group.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = command
            .current_dir(cwd)
            .env("TERM", "xterm")
            .env("PENGUIN", "waddle")
            .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave))
            .spawn()
            .expect("start penguinshell");
        // The Command and its copies of the slave side are gone now: once the shell
        // exits, reading the master side fails and the reader thread ends.
        let master = File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, chunks) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            master,
            chunks,
            seen: Vec::new(),
        }
    }

    /// Waits until the terminal shows `needle`; consumes output up to its end.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let found = self
                .seen
                .windows(needle.len())
                .position(|w| w == needle.as_bytes());
            if let Some(i) = found {
                self.seen.drain(..i + needle.len());
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(e) => panic!(
                    "waiting for {needle:?}: {}; the terminal showed {:?}",
                    match e {
                        RecvTimeoutError::Timeout => "timed out",
                        RecvTimeoutError::Disconnected => "the shell closed the terminal",
                    },
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Waits until the line editor has handed the terminal back (canonical mode,
    /// as a program reading it gets it); keys typed before would be its type-ahead.
    fn wait_for_cooked_mode(&self) {
        use nix::sys::termios::{LocalFlags, tcgetattr};
        let deadline = Instant::now() + TIMEOUT;
        while !tcgetattr(&self.master)
            .expect("tcgetattr")
            .local_flags
            .contains(LocalFlags::ICANON)
        {
            assert!(Instant::now() < deadline, "the terminal stayed in raw mode");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `keys`.
    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits until the shell has closed the terminal, then for its exit status.
    fn expect_exit(mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "the shell did not exit; the terminal showed {:?}",
                        String::from_utf8_lossy(&self.seen)
                    );
                }
            }
        }
        let status = self.child.wait().unwrap();
        status.code().expect("penguinshell exited by a signal")
    }
}

#[test]
fn interactive_session_prompt_ls_completion_ctrl_c_ctrl_d() {
    let dir = super::bundle();
    std::fs::write(dir.path().join("etc").join("penguin-notes.txt"), "").unwrap();
    let mut sh = Session::start(dir.path());

    // The prompt, then `ls` in the bundle: in columns, as on any terminal.
    sh.expect(PROMPT);
    sh.send("ls\r");
    sh.expect("bin  dev  etc  proc  sys\r\n");
    sh.expect(PROMPT);

    // Tab completes a path: `etc/peng` becomes `etc/penguin-notes.txt`.
    sh.send("ls etc/peng\t");
    sh.expect("uin-notes.txt");
    sh.send("\r");
    sh.expect("etc/penguin-notes.txt\r\n");
    sh.expect(PROMPT);

    // Tab completes a builtin name: `ech` becomes `echo `.
    sh.send("ech\t");
    sh.expect("o");
    sh.send("$PENGUIN\r");
    sh.expect("waddle\r\n");
    sh.expect(PROMPT);

    // Ctrl-C abandons the line and keeps the shell; $? is then 130.
    sh.send("echo abandoned");
    sh.expect("abandoned");
    sh.send("\x03");
    sh.expect(PROMPT);
    sh.send("echo status=$?\r");
    sh.expect("status=130\r\n");
    sh.expect(PROMPT);

    // Ctrl-C also stops `cat` reading the terminal, which runs inside the shell.
    sh.send("cat\r");
    sh.wait_for_cooked_mode();
    sh.send("typed\r");
    sh.expect("typed\r\n");
    sh.send("\x03");
    sh.expect(PROMPT);
    sh.send("echo status=$?\r");
    sh.expect("status=130\r\n");
    sh.expect(PROMPT);

    // Up arrow recalls the session's history.
    sh.send("\x1b[A");
    sh.expect("echo status=$?");
    sh.send("\r");
    sh.expect("status=0\r\n");
    sh.expect(PROMPT);

    // Keys typed ahead while a command runs are kept for the next prompt.
    sh.send("sh -c 'echo first-$PENGUIN'\recho second-$PENGUIN\r");
    sh.expect("first-waddle\r\n");
    sh.expect("second-waddle\r\n");
    sh.expect(PROMPT);

    // Errors are one line, and the shell carries on.
    sh.send("ls /nope\r");
    sh.expect("ls: /nope: No such file or directory\r\n");
    sh.expect(PROMPT);

    // Ctrl-D on an empty line exits with the last status, as `exit` does.
    sh.send("\x04");
    assert_eq!(sh.expect_exit(), 1);
}

#[test]
fn ls_on_a_narrow_terminal_uses_columns_and_escapes_names() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "fox\x1b[31mtrot",
    ] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    let mut sh = Session::start_with_width(dir.path(), 30);
    sh.expect(PROMPT);
    sh.send("ls\r");
    // Down then across, each column as wide as its widest name plus two spaces;
    // the escape character shows as `?`.
    sh.expect("alpha  charlie  echo\r\n");
    sh.expect("bravo  delta    fox?[31mtrot\r\n");
    sh.expect(PROMPT);
    // Into a pipe, the same names stay on one line, as they are.
    sh.send("ls | cat\r");
    sh.expect("alpha bravo charlie delta echo fox\x1b[31mtrot\r\n");
    sh.expect(PROMPT);
    sh.send("false\r");
    sh.expect(PROMPT);
    sh.send("exit\r");
    assert_eq!(sh.expect_exit(), 1);
}

#[test]
fn exit_in_a_session_uses_its_status() {
    let dir = super::bundle();
    let mut sh = Session::start(dir.path());
    sh.expect(PROMPT);
    sh.send("exit 9\r");
    assert_eq!(sh.expect_exit(), 9);
}
