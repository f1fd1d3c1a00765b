//! The shell's state and the run loop for one line: parse, then for each pipeline
//! expand its commands, connect their descriptors (pipes, redirections) and run
//! each as a builtin or as a program found on `PATH`.
//!
//! The state is small: the last exit status (`$?`) and the variables the shell set
//! (`NAME=value`, `export`, `unset`, and `PWD`, `OLDPWD` after `cd`), layered over
//! the environment it started with. The process environment is never modified;
//! programs the shell starts get the exported variables.
//!
//! A builtin alone runs inside the shell, with its redirections; so does the last
//! command of a pipeline, so that `ls | cat` writes where the shell writes. A
//! builtin earlier in a pipeline runs in a forked copy of the shell, beside the
//! others, as a program would. The status of a pipeline is its last command's;
//! the others are waited for, and one whose reader went away ends by SIGPIPE.

use crate::builtins::{self, Io, Outcome};
use crate::expand::{self, Lookup};
use crate::parse::{self, Command, Op, Target};
use crate::spawn::{self, Fd};
use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

/// Status of a command that could not be found.
pub const NOT_FOUND: i32 = 127;
/// Status of a command that was found but could not be started.
pub const NOT_EXECUTABLE: i32 = 126;
/// Status after a syntax error.
pub const SYNTAX_ERROR: i32 = 2;
/// The longest line the shell reads, in bytes; longer lines are refused whole.
pub const MAX_LINE: usize = 1 << 20;

/// One variable the shell set or unset.
#[derive(Debug, Clone)]
struct Var {
    name: String,
    /// `None` after `unset`: hides the environment's value too.
    value: Option<String>,
    exported: bool,
}

/// Variables the shell set, layered over the environment it started with.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    // A handful of entries at most: a list is smaller than a map in the binary.
    set: Vec<Var>,
}

impl Vars {
    fn find(&mut self, name: &str) -> Option<&mut Var> {
        self.set.iter_mut().find(|v| v.name == name)
    }

    /// The value of `name`: the shell's own, else the environment's.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.set.iter().find(|v| v.name == name) {
            Some(v) => v.value.clone(),
            None => std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        }
    }

    /// Sets `name` (`NAME=value`). It is passed to programs if it already was: it
    /// came from the environment, or was exported.
    pub fn set(&mut self, name: &str, value: &str) {
        let value = Some(value.to_string());
        match self.find(name) {
            Some(v) => v.value = value,
            None => {
                let exported = std::env::var_os(name).is_some();
                self.set.push(Var {
                    name: name.to_string(),
                    value,
                    exported,
                });
            }
        }
    }

    /// Marks `name` for programs (`export NAME[=value]`), setting it first if a
    /// value is given.
    pub fn export(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string).or_else(|| self.get(name));
        let value = value.unwrap_or_default();
        self.set(name, &value);
        if let Some(v) = self.find(name) {
            v.exported = true;
        }
    }

    /// Removes `name`, from the environment of programs too (`unset NAME`).
    pub fn unset(&mut self, name: &str) {
        self.set(name, "");
        if let Some(v) = self.find(name) {
            v.value = None;
            v.exported = false;
        }
    }

    /// The environment of a program, as `NAME=value` byte strings: the shell's
    /// own environment, with the shell's exported variables and without unset ones.
    pub fn environment(&self) -> Vec<Vec<u8>> {
        let mut env = Vec::new();
        let line = |name: &[u8], value: &[u8]| [name, b"=", value].concat();
        for (name, value) in std::env::vars_os() {
            if !self
                .set
                .iter()
                .any(|v| v.name.as_bytes() == name.as_bytes())
            {
                env.push(line(name.as_bytes(), value.as_bytes()));
            }
        }
        for v in &self.set {
            if let (true, Some(value)) = (v.exported, &v.value) {
                env.push(line(v.name.as_bytes(), value.as_bytes()));
            }
        }
        env
    }
}

/// What the caller should do after a line ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Stop with this exit status (`exit` ran).
    Exit(i32),
}

/// A penguin shell: variables and the last status.
#[derive(Debug, Default)]
pub struct Shell {
    vars: Vars,
    status: i32,
    terminal: bool,
}

impl Lookup for Shell {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name)
    }

    fn status(&self) -> i32 {
        self.status
    }
}

/// Where one of a command's descriptors 0, 1, 2 goes.
#[derive(Debug, Clone)]
enum Src {
    /// The shell's own descriptor N (for builtins: `out` is 1, `err` is 2).
    Std(RawFd),
    /// A file or pipe end opened for this command.
    Open(Rc<OwnedFd>),
}

impl Src {
    fn raw(&self) -> RawFd {
        match self {
            Src::Std(fd) => *fd,
            Src::Open(fd) => fd.as_raw_fd(),
        }
    }
}

/// A builtin's output stream: the caller's `out` (1) or `err` (2), or a descriptor.
struct Port<'c, 'w> {
    fd: RawFd,
    streams: &'c RefCell<[&'w mut dyn Write; 2]>,
}

impl Write for Port<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.fd {
            1 | 2 => self.streams.borrow_mut()[self.fd as usize - 1].write(buf),
            fd => Fd(fd).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.fd {
            1 | 2 => self.streams.borrow_mut()[self.fd as usize - 1].flush(),
            _ => Ok(()),
        }
    }
}

/// A command ready to start: its arguments, the variables it sees, its descriptors.
struct Ready {
    argv: Vec<String>,
    /// The shell's variables with the command's `NAME=value` prefixes exported;
    /// `None` when there are none.
    vars: Option<Vars>,
    fds: [Src; 3],
}

/// Writes `penguinshell: MESSAGE` on one line.
fn complain(err: &mut dyn Write, message: &dyn std::fmt::Display) {
    let _ = writeln!(err, "penguinshell: {message}");
}

impl Shell {
    /// A shell with status 0 and the process environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The exit status of the last command (`$?`).
    pub fn status(&self) -> i32 {
        self.status
    }

    /// Sets the last status, e.g. 130 when the user abandons a line with Ctrl-C.
    pub fn set_status(&mut self, status: i32) {
        self.status = status;
    }

    /// The shell's variables.
    pub fn vars(&mut self) -> &mut Vars {
        &mut self.vars
    }

    /// Tells the shell that its stdout (descriptor 1) is a terminal, so `ls`
    /// writing there lays names out in columns and escapes control characters.
    pub fn set_terminal(&mut self, terminal: bool) {
        self.terminal = terminal;
    }

    /// Runs one line of input. Builtins write to `out` and `err`; programs write
    /// straight to the process's stdout and stderr (`out` is flushed before they
    /// start, so the order holds).
    ///
    /// A syntax error, or a line longer than [`MAX_LINE`], runs nothing and sets
    /// status 2.
    pub fn run_line(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Flow {
        if line.len() > MAX_LINE {
            complain(err, &"line too long (the limit is 1 MiB)");
            self.status = SYNTAX_ERROR;
            return Flow::Continue;
        }
        let lists = match parse::parse_line(line) {
            Ok(lists) => lists,
            Err(e) => {
                complain(err, &e);
                self.status = SYNTAX_ERROR;
                return Flow::Continue;
            }
        };
        for list in &lists {
            let mut flow = self.run_pipeline(&list.first, out, err);
            for (op, pipeline) in &list.rest {
                if flow != Flow::Continue {
                    break;
                }
                if (*op == Op::And) == (self.status == 0) {
                    flow = self.run_pipeline(pipeline, out, err);
                }
            }
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    /// Runs `a | b | c`: all but the last started in the background, connected by
    /// pipes, the last one run here; its status is the pipeline's.
    fn run_pipeline(
        &mut self,
        pipeline: &[Command],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Flow {
        let Some((last, first)) = pipeline.split_last() else {
            return Flow::Continue;
        };
        let mut input = Src::Std(0);
        let mut started = Vec::new();
        for command in first {
            let (read, write) = match spawn::pipe() {
                Ok(ends) => ends,
                Err(e) => {
                    complain(
                        err,
                        &format_args!("cannot make a pipe: {}", builtins::error_message(&e)),
                    );
                    // Let the commands already started see their end, and wait for them.
                    drop(input);
                    for pid in started {
                        let _ = spawn::wait(pid);
                    }
                    self.status = 1;
                    return Flow::Continue;
                }
            };
            let fds = [input, Src::Open(Rc::new(write)), Src::Std(2)];
            if let Some(ready) = self.prepare(command, fds, err) {
                let _ = out.flush();
                if let Some(pid) = self.start(&ready, err) {
                    started.push(pid);
                }
            }
            // Our copies of this pipe's write end and the previous read end close here.
            input = Src::Open(Rc::new(read));
        }
        let flow = match self.prepare(last, [input, Src::Std(1), Src::Std(2)], err) {
            Some(ready) => self.run_here(ready, out, err),
            None => {
                self.status = 1;
                Flow::Continue
            }
        };
        for pid in started {
            let _ = spawn::wait(pid);
        }
        flow
    }

    /// Expands `command` and opens its redirections on top of `fds`; reports a
    /// file that cannot be opened and returns `None`.
    fn prepare(
        &mut self,
        command: &Command,
        mut fds: [Src; 3],
        err: &mut dyn Write,
    ) -> Option<Ready> {
        // Expand just before running: `false; echo $?` sees the new status.
        let argv = expand::expand_words(&command.words, self);
        let mut vars = None;
        for (name, value) in &command.assignments {
            let value = expand::expand_text(value, self);
            if argv.is_empty() {
                self.vars.set(name, &value);
            } else {
                vars.get_or_insert_with(|| self.vars.clone())
                    .export(name, Some(&value));
            }
        }
        for redirect in &command.redirects {
            let fd = usize::from(redirect.fd);
            let mut options = OpenOptions::new();
            let word = match &redirect.target {
                Target::Dup(n) => {
                    fds[fd] = fds[usize::from(*n)].clone();
                    continue;
                }
                Target::Read(word) => {
                    options.read(true);
                    word
                }
                Target::Write(word) => {
                    options.write(true).create(true).truncate(true);
                    word
                }
                Target::Append(word) => {
                    options.append(true).create(true);
                    word
                }
            };
            let path = expand::expand_text(word, self);
            // Rust opens files close-on-exec: only the descriptors we place pass on.
            match options.open(&path) {
                Ok(file) => fds[fd] = Src::Open(Rc::new(file.into())),
                Err(e) => {
                    let _ = writeln!(
                        err,
                        "penguinshell: {}: {}",
                        builtins::shown(&path),
                        builtins::error_message(&e)
                    );
                    self.status = 1;
                    return None;
                }
            }
        }
        Some(Ready { argv, vars, fds })
    }

    /// The descriptors of `ready` for a new process: each one is either its own
    /// number or 3 and above (see [`spawn::spawn`]); the copies made live in `keep`.
    fn raw_fds(ready: &Ready, keep: &mut Vec<OwnedFd>) -> io::Result<[RawFd; 3]> {
        let mut raw = [0, 1, 2];
        for (i, src) in ready.fds.iter().enumerate() {
            raw[i] = match src.raw() {
                fd if fd < 3 && fd != i as RawFd => {
                    let copy = spawn::dup_high(fd)?;
                    let fd = copy.as_raw_fd();
                    keep.push(copy);
                    fd
                }
                fd => fd,
            };
        }
        Ok(raw)
    }

    /// Starts a command of a pipeline that is not the last: a program, or a builtin
    /// in a forked copy of the shell. Reports a failure and returns `None`.
    fn start(&self, ready: &Ready, err: &mut dyn Write) -> Option<libc::pid_t> {
        let mut keep = Vec::new();
        let started = Self::raw_fds(ready, &mut keep).and_then(|fds| {
            if ready
                .argv
                .first()
                .is_some_and(|name| builtins::is_builtin(name))
            {
                let mut vars = ready.vars.clone().unwrap_or_else(|| self.vars.clone());
                let status = self.status;
                spawn::fork(fds, || {
                    let (mut out, mut err) = (Fd(1), Fd(2));
                    let mut io = Io {
                        input: Fd(0),
                        out: &mut out,
                        err: &mut err,
                        width: None,
                    };
                    match builtins::run_builtin(&ready.argv, &mut vars, status, &mut io) {
                        Some(Outcome::Status(s) | Outcome::Exit(s)) => s,
                        None => NOT_FOUND,
                    }
                })
            } else if ready.argv.is_empty() {
                Err(io::ErrorKind::NotFound.into())
            } else {
                let env = ready.vars.as_ref().unwrap_or(&self.vars).environment();
                spawn::spawn(&ready.argv, &env, fds)
            }
        });
        match started {
            Ok(pid) => Some(pid),
            // An empty command (only assignments or redirections) starts nothing.
            Err(_) if ready.argv.is_empty() => None,
            Err(e) => {
                report_start_error(&ready.argv[0], &e, err);
                None
            }
        }
    }

    /// Runs a command here: a builtin in the shell with its redirections, or a
    /// program, waiting for it.
    fn run_here<'w>(
        &mut self,
        ready: Ready,
        out: &'w mut dyn Write,
        err: &'w mut dyn Write,
    ) -> Flow {
        let streams = RefCell::new([out, err]);
        let mut out = Port {
            fd: ready.fds[1].raw(),
            streams: &streams,
        };
        let mut err = Port {
            fd: ready.fds[2].raw(),
            streams: &streams,
        };
        let Some(name) = ready.argv.first() else {
            // Assignments and redirections only.
            self.status = 0;
            return Flow::Continue;
        };
        if builtins::is_builtin(name) {
            let width = (self.terminal && out.fd == 1).then(terminal_width);
            let mut io = Io {
                input: Fd(ready.fds[0].raw()),
                out: &mut out,
                err: &mut err,
                width,
            };
            let mut own;
            let vars = match ready.vars {
                Some(vars) => {
                    own = vars;
                    &mut own
                }
                None => &mut self.vars,
            };
            match builtins::run_builtin(&ready.argv, vars, self.status, &mut io) {
                Some(Outcome::Exit(status)) => {
                    self.status = status;
                    return Flow::Exit(status);
                }
                Some(Outcome::Status(status)) => self.status = status,
                None => {}
            }
            return Flow::Continue;
        }
        let _ = out.flush();
        let mut keep = Vec::new();
        let env = ready.vars.as_ref().unwrap_or(&self.vars).environment();
        let started =
            Self::raw_fds(&ready, &mut keep).and_then(|fds| spawn::spawn(&ready.argv, &env, fds));
        // Close our copies before waiting: a writer before us in the pipeline
        // must see its reader go when the program ends.
        drop(keep);
        let waited = match started {
            Ok(pid) => {
                drop(ready.fds);
                spawn::wait(pid)
            }
            Err(e) => Err(e),
        };
        self.status = match waited {
            Ok(status) => status,
            Err(e) => report_start_error(name, &e, &mut err),
        };
        Flow::Continue
    }
}

/// Reports why `name` could not be started; returns the status for it: 127 when
/// it does not exist, 126 when it cannot be started.
fn report_start_error(name: &str, e: &io::Error, err: &mut dyn Write) -> i32 {
    let (message, status) = match e.kind() {
        io::ErrorKind::NotFound if !name.contains('/') => {
            ("command not found".to_string(), NOT_FOUND)
        }
        io::ErrorKind::NotFound => (builtins::error_message(e), NOT_FOUND),
        _ => (builtins::error_message(e), NOT_EXECUTABLE),
    };
    let _ = writeln!(err, "{}: {message}", builtins::shown(name));
    status
}

/// The width of the terminal on stdout, or 80 when it does not say.
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills one winsize struct.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    match unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } {
        0 if size.ws_col > 0 => usize::from(size.ws_col),
        _ => 80,
    }
}

/// Reads one line from `input` into `buf`, newline included, keeping at most
/// [`MAX_LINE`] + 1 bytes of it: the rest of a longer line is read and dropped,
/// so memory stays bounded whatever arrives. Returns the bytes read (0 at the end).
pub fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(total);
        }
        let (len, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..len.min(room)]);
        input.consume(len);
        total += len;
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `line` in `shell`, returning (flow, stdout, stderr).
    fn run(shell: &mut Shell, line: &str) -> (Flow, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let flow = shell.run_line(line, &mut out, &mut err);
        (
            flow,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn status_flows_between_commands() {
        let mut sh = Shell::new();
        let (flow, out, err) = run(&mut sh, "ls /definitely-not-here; echo $?; echo $?");
        assert_eq!(flow, Flow::Continue);
        assert_eq!(out, "1\n0\n");
        assert_eq!(err, "ls: /definitely-not-here: No such file or directory\n");
        assert_eq!(sh.status(), 0);
    }

    #[test]
    fn unknown_command_is_127() {
        let mut sh = Shell::new();
        let (_, _, err) = run(&mut sh, "no-such-command-penguin a b");
        assert_eq!(err, "no-such-command-penguin: command not found\n");
        assert_eq!(sh.status(), NOT_FOUND);
        let (_, _, err) = run(&mut sh, "/no/such/program");
        assert_eq!(err, "/no/such/program: No such file or directory\n");
        assert_eq!(sh.status(), NOT_FOUND);
    }

    #[test]
    fn a_directory_is_not_executable() {
        let mut sh = Shell::new();
        let (_, _, err) = run(&mut sh, "/");
        assert_eq!(err, "/: Permission denied\n");
        assert_eq!(sh.status(), NOT_EXECUTABLE);
    }

    #[test]
    fn programs_run_with_their_status() {
        let mut sh = Shell::new();
        run(&mut sh, "sh -c 'exit 3'");
        assert_eq!(sh.status(), 3);
        run(&mut sh, "sh -c 'kill -9 $$'");
        assert_eq!(sh.status(), 128 + 9);
    }

    #[test]
    fn programs_see_the_variables_the_shell_set() {
        let mut sh = Shell::new();
        sh.vars().export("PENGUIN_TEST_VAR", Some("tux"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seen");
        let line = format!(
            "sh -c 'printf %s \"$PENGUIN_TEST_VAR\" > {}'",
            file.display()
        );
        run(&mut sh, &line);
        assert_eq!(sh.status(), 0);
        assert_eq!(std::fs::read_to_string(file).unwrap(), "tux");
    }

    #[test]
    fn exit_stops_the_line() {
        let mut sh = Shell::new();
        let (flow, out, _) = run(&mut sh, "echo a; exit 5; echo b");
        assert_eq!((flow, out.as_str()), (Flow::Exit(5), "a\n"));
        let (flow, _, _) = run(&mut sh, "ls /nope-nope; exit");
        assert_eq!(flow, Flow::Exit(1));
    }

    #[test]
    fn syntax_error_runs_nothing() {
        let mut sh = Shell::new();
        let (flow, out, err) = run(&mut sh, "echo a; echo 'b");
        assert_eq!(flow, Flow::Continue);
        assert_eq!(out, "");
        assert_eq!(
            err,
            "penguinshell: syntax error: unterminated single quote\n"
        );
        assert_eq!(sh.status(), SYNTAX_ERROR);
    }

    #[test]
    fn empty_expansion_runs_nothing_with_status_0() {
        let mut sh = Shell::new();
        sh.set_status(4);
        let (_, out, err) = run(&mut sh, "$PENGUIN_UNSET_VAR # nothing");
        assert_eq!((out.as_str(), err.as_str(), sh.status()), ("", "", 0));
        // A comment alone is no command: the status stays.
        sh.set_status(4);
        run(&mut sh, "# nothing");
        assert_eq!(sh.status(), 4);
    }

    /// A temporary directory and a helper to name files in it.
    fn scratch() -> (tempfile::TempDir, impl Fn(&str) -> String) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_str().unwrap().to_string();
        (dir, move |name: &str| format!("{base}/{name}"))
    }

    #[test]
    fn pipelines_connect_builtins_and_programs() {
        let mut sh = Shell::new();
        assert_eq!(run(&mut sh, "echo hi | cat").1, "hi\n");
        assert_eq!(run(&mut sh, "echo hi | cat | cat - | cat").1, "hi\n");
        assert_eq!(run(&mut sh, "sh -c 'echo from-sh' | cat").1, "from-sh\n");
        assert_eq!(
            run(&mut sh, "echo a b | sh -c 'read x y; echo $y$x' | cat").1,
            "ba\n"
        );
        // The status is the last command's.
        run(&mut sh, "true | false");
        assert_eq!(sh.status(), 1);
        run(&mut sh, "false | true");
        assert_eq!(sh.status(), 0);
        run(&mut sh, "echo x | no-such-penguin-command");
        assert_eq!(sh.status(), NOT_FOUND);
    }

    #[test]
    fn a_writer_whose_reader_ends_gets_sigpipe_and_the_pipeline_ends() {
        let mut sh = Shell::new();
        // An endless program, then an endless builtin (in a forked shell), each
        // before a reader that reads nothing: both must end, by SIGPIPE.
        let (flow, out, err) = run(&mut sh, "yes | true");
        assert_eq!(
            (flow, out.as_str(), err.as_str(), sh.status()),
            (Flow::Continue, "", "", 0)
        );
        run(&mut sh, "cat /dev/zero | sh -c 'exit 3'");
        assert_eq!(sh.status(), 3);
        let (_, out, _) = run(&mut sh, "yes | sh -c 'read line; echo $line' | cat");
        assert_eq!(out, "y\n");
    }

    #[test]
    fn redirections_of_builtins_and_programs() {
        let (_dir, f) = scratch();
        let mut sh = Shell::new();
        let line = format!("echo hi > {0}; echo more >> {0}; cat < {0} | cat", f("a"));
        assert_eq!(run(&mut sh, &line).1, "hi\nmore\n");
        // 2> and 2>&1 on a builtin.
        let (_, out, err) = run(&mut sh, &format!("ls /nope 2> {}", f("err")));
        assert_eq!((out.as_str(), err.as_str(), sh.status()), ("", "", 1));
        assert_eq!(
            std::fs::read_to_string(f("err")).unwrap(),
            "ls: /nope: No such file or directory\n"
        );
        let (_, out, err) = run(&mut sh, "ls /nope 2>&1");
        assert_eq!(
            (out.as_str(), err.as_str()),
            ("ls: /nope: No such file or directory\n", "")
        );
        let (_, out, err) = run(&mut sh, "echo to-err >&2");
        assert_eq!((out.as_str(), err.as_str()), ("", "to-err\n"));
        // Order matters: `2>&1 > f` sends errors where stdout was.
        let (_, out, _) = run(&mut sh, &format!("ls /nope 2>&1 > {}", f("o")));
        assert_eq!(out, "ls: /nope: No such file or directory\n");
        // On a program: both streams into one file.
        let line = format!("sh -c 'echo out; echo err >&2' > {} 2>&1", f("both"));
        run(&mut sh, &line);
        assert_eq!(std::fs::read_to_string(f("both")).unwrap(), "out\nerr\n");
        let line = format!("sh -c 'cat; echo done' < {} > {}", f("a"), f("copy"));
        run(&mut sh, &line);
        assert_eq!(
            std::fs::read_to_string(f("copy")).unwrap(),
            "hi\nmore\ndone\n"
        );
        // A redirection alone creates the file.
        run(&mut sh, &format!("> {}", f("empty")));
        assert_eq!(std::fs::read(f("empty")).unwrap(), b"");
        // A program that is not found says so where stderr goes.
        run(&mut sh, &format!("no-such-penguin 2> {}", f("nf")));
        assert_eq!(
            std::fs::read_to_string(f("nf")).unwrap(),
            "no-such-penguin: command not found\n"
        );
    }

    #[test]
    fn a_file_that_cannot_be_opened_stops_the_command() {
        let mut sh = Shell::new();
        let (_, out, err) = run(&mut sh, "cat < /nope/in; echo next");
        assert_eq!(out, "next\n");
        assert_eq!(err, "penguinshell: /nope/in: No such file or directory\n");
        let (_, out, _) = run(&mut sh, "echo x > /nope/out || echo failed");
        assert_eq!(out, "failed\n");
    }

    #[test]
    fn and_and_or_or() {
        let mut sh = Shell::new();
        let (_, out, err) = run(&mut sh, "ls /nope || echo fallback");
        assert_eq!(out, "fallback\n");
        assert_eq!(err, "ls: /nope: No such file or directory\n");
        assert_eq!(run(&mut sh, "true && echo a || echo b").1, "a\n");
        assert_eq!(run(&mut sh, "false && echo a || echo b").1, "b\n");
        assert_eq!(run(&mut sh, "false || false && echo no; echo $?").1, "1\n");
        assert_eq!(run(&mut sh, "true || exit 4; echo still").1, "still\n");
        let (flow, _, _) = run(&mut sh, "false || exit 4; echo never");
        assert_eq!(flow, Flow::Exit(4));
    }

    #[test]
    fn assignments_exports_and_unset() {
        let (_dir, f) = scratch();
        let mut sh = Shell::new();
        assert_eq!(run(&mut sh, "X=1; echo $X").1, "1\n");
        assert_eq!(run(&mut sh, "X=a Y=\"$X b\"; echo $Y").1, "a b\n");
        // A shell variable is not passed on until exported.
        let show = format!("sh -c 'echo \"[$X]\"' > {}", f("seen"));
        run(&mut sh, &show);
        assert_eq!(std::fs::read_to_string(f("seen")).unwrap(), "[]\n");
        run(&mut sh, &format!("export X; {show}"));
        assert_eq!(std::fs::read_to_string(f("seen")).unwrap(), "[a]\n");
        // NAME=value CMD: for that command only, builtins included.
        run(&mut sh, &format!("X=once {show}"));
        assert_eq!(std::fs::read_to_string(f("seen")).unwrap(), "[once]\n");
        assert_eq!(run(&mut sh, "echo $X").1, "a\n");
        assert!(
            run(&mut sh, "PENGUIN_ONCE=1 env")
                .1
                .contains("\nPENGUIN_ONCE=1\n")
        );
        assert!(!run(&mut sh, "env").1.contains("PENGUIN_ONCE"));
        run(&mut sh, &format!("unset X; {show}"));
        assert_eq!(std::fs::read_to_string(f("seen")).unwrap(), "[]\n");
        assert_eq!(run(&mut sh, "echo \"[$X]\"").1, "[]\n");
        // An assignment is a command with status 0.
        run(&mut sh, "false; Z=1");
        assert_eq!(sh.status(), 0);
    }

    #[test]
    fn globs_and_tilde() {
        let (dir, f) = scratch();
        for name in ["b.md", "a.md", "c.txt"] {
            std::fs::write(f(name), "").unwrap();
        }
        let mut sh = Shell::new();
        let base = dir.path().to_str().unwrap();
        let (_, out, _) = run(
            &mut sh,
            &format!("echo {base}/*.md {base}/*.none '{base}/*.md'"),
        );
        assert_eq!(
            out,
            format!("{base}/a.md {base}/b.md {base}/*.none {base}/*.md\n")
        );
        sh.vars().set("HOME", "/home/tux");
        assert_eq!(
            run(&mut sh, "echo ~ ~/x \\~").1,
            "/home/tux /home/tux/x ~\n"
        );
    }

    #[test]
    fn unsupported_syntax_runs_nothing() {
        let mut sh = Shell::new();
        for (line, what) in [
            ("echo a; sleep 1 &", "`&` (background jobs)"),
            ("echo a; echo $(ls)", "`$(...)` (command substitution)"),
            ("echo `ls`", "`...` (command substitution)"),
            ("cat <<EOF", "`<<` (here-documents)"),
            ("if true; then echo a; fi", "`if`"),
            ("for x in a; do echo $x; done", "`for`"),
            ("f() { echo a; }", "`( )` (subshells and functions)"),
        ] {
            let (flow, out, err) = run(&mut sh, line);
            assert_eq!((flow, out.as_str()), (Flow::Continue, ""), "{line}");
            assert_eq!(
                err,
                format!("penguinshell: {what} is not supported (type help)\n")
            );
            assert_eq!(sh.status(), SYNTAX_ERROR);
        }
    }

    #[test]
    fn a_line_over_the_limit_is_refused_in_one_short_line() {
        let mut sh = Shell::new();
        let line = "\0".repeat(MAX_LINE + 1);
        let (_, out, err) = run(&mut sh, &line);
        assert_eq!(out, "");
        assert_eq!(err, "penguinshell: line too long (the limit is 1 MiB)\n");
        assert_eq!(sh.status(), SYNTAX_ERROR);
        // Just under the limit, a bad word is echoed as a short prefix.
        let (_, _, err) = run(&mut sh, &"\0".repeat(MAX_LINE - 1));
        assert_eq!(
            err,
            format!("{}...: argument holds a NUL byte\n", "?".repeat(64))
        );
    }

    #[test]
    fn read_line_keeps_at_most_the_limit() {
        let mut input: &[u8] = b"short\n";
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), 6);
        assert_eq!(buf, b"short\n");
        let long = [vec![b'x'; 3 * MAX_LINE], b"\nnext\n".to_vec()].concat();
        let mut input = std::io::BufReader::with_capacity(4096, long.as_slice());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), 3 * MAX_LINE + 1);
        assert_eq!(buf.len(), MAX_LINE + 1);
        buf.clear();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), 5);
        assert_eq!(buf, b"next\n");
        buf.clear();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), 0);
    }
}
