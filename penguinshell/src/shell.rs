//! The shell's state and the run loop for one line: parse, then for each command
//! expand it and run it as a builtin or as a program found on `PATH`.
//!
//! The state is small: the last exit status (`$?`) and the variables the shell set
//! itself (`PWD`, `OLDPWD` after `cd`), layered over the environment it started
//! with. The process environment is never modified; programs the shell starts get
//! the layered variables.

use crate::builtins::{self, Outcome};
use crate::expand::{self, Lookup};
use crate::parse;
use crate::spawn;
use std::io::{self, Write};

/// Status of a command that could not be found.
pub const NOT_FOUND: i32 = 127;
/// Status of a command that was found but could not be started.
pub const NOT_EXECUTABLE: i32 = 126;
/// Status after a syntax error.
pub const SYNTAX_ERROR: i32 = 2;

/// Variables the shell set, layered over the environment it started with.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    // A handful of entries at most: a list is smaller than a map in the binary.
    set: Vec<(String, String)>,
}

impl Vars {
    /// The value of `name`: the shell's own, else the environment's.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.set.iter().find(|(k, _)| k == name) {
            Some((_, v)) => Some(v.clone()),
            None => std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        }
    }

    /// Sets `name` for the shell and the programs it starts.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.set.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.set.push((name.to_string(), value.to_string())),
        }
    }

    /// The variables the shell set itself, to pass on to programs.
    pub fn overrides(&self) -> &[(String, String)] {
        &self.set
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
}

impl Lookup for Shell {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name)
    }

    fn status(&self) -> i32 {
        self.status
    }
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

    /// Runs one line of input. Builtins write to `out` and `err`; programs write
    /// straight to the process's stdout and stderr (`out` is flushed before they
    /// start, so the order holds).
    ///
    /// A syntax error runs nothing and sets status 2.
    pub fn run_line(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Flow {
        let commands = match parse::parse_line(line) {
            Ok(commands) => commands,
            Err(e) => {
                let _ = writeln!(err, "penguinshell: {e}");
                self.status = SYNTAX_ERROR;
                return Flow::Continue;
            }
        };
        for command in &commands {
            // Expand just before running: `false; echo $?` sees the new status.
            let argv = expand::expand_command(command, self);
            if argv.is_empty() {
                continue;
            }
            match builtins::run_builtin(&argv, &mut self.vars, self.status, out, err) {
                Some(Outcome::Status(status)) => self.status = status,
                Some(Outcome::Exit(status)) => {
                    self.status = status;
                    return Flow::Exit(status);
                }
                None => {
                    let _ = out.flush();
                    self.status = run_program(&argv, &self.vars, err);
                }
            }
        }
        Flow::Continue
    }
}

/// Runs `argv[0]` as a program (searched on `PATH` unless it holds a `/`) and waits.
///
/// Returns its exit status, 128 + N when killed by signal N, 127 when it does not
/// exist and 126 when it cannot be started, reporting those on `err`.
pub fn run_program(argv: &[String], vars: &Vars, err: &mut dyn Write) -> i32 {
    let name = &argv[0];
    match spawn::spawn_and_wait(argv, vars.overrides()) {
        Ok(status) => status,
        Err(e) => {
            let (message, status) = match e.kind() {
                io::ErrorKind::NotFound if !name.contains('/') => {
                    ("command not found".to_string(), NOT_FOUND)
                }
                io::ErrorKind::NotFound => (builtins::error_message(&e), NOT_FOUND),
                _ => (builtins::error_message(&e), NOT_EXECUTABLE),
            };
            let _ = writeln!(err, "{name}: {message}");
            status
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
        sh.vars().set("PENGUIN_TEST_VAR", "tux");
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
    fn empty_expansion_runs_nothing_and_keeps_status() {
        let mut sh = Shell::new();
        sh.set_status(4);
        let (_, out, err) = run(&mut sh, "$PENGUIN_UNSET_VAR # nothing");
        assert_eq!((out.as_str(), err.as_str(), sh.status()), ("", "", 4));
    }
}
