//! The `penguinshell` binary: parse the few flags by hand, pick a mode, run.
//!
//! - `-c CMD`: run one line, exit with its status;
//! - stdin is a terminal: the interactive REPL ([`repl`]);
//! - otherwise: read stdin line by line, exit at end of input with the last status.

#[cfg(static_shell)]
mod no_unwind;
mod repl;

use penguinshell::shell::{self, Flow, Shell};
use penguinshell::spawn::Fd;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

const USAGE: &str = "\
usage: penguinshell [-c COMMAND]

A tiny shell with the prompt 🐧, built to live alone in a container image.

  -c COMMAND     run COMMAND and exit with its status
  -h, --help     print this help
  --version      print the version

On a terminal it reads commands interactively (Tab completes; Ctrl-D, like
`exit`, ends with the last command's status); otherwise it reads them line by
line from stdin (at most 1 MiB a line) and ends with the last status.
Type `help` for the builtins and the syntax.
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Help,
    Version,
    Command(String),
    Stdin,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Mode, String> {
    let Some(first) = args.next() else {
        return Ok(Mode::Stdin);
    };
    let mode = match first.as_str() {
        "-h" | "--help" => Mode::Help,
        "--version" => Mode::Version,
        "-c" => Mode::Command(args.next().ok_or("-c needs a command")?),
        other => return Err(format!("unknown argument {other}")),
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument {extra}")),
        None => Ok(mode),
    }
}

fn main() -> ExitCode {
    // Rust starts programs with SIGPIPE ignored; a shell whose reader went away
    // (`yes 'ls /' | penguinshell | head -1`) should end like any Unix tool does.
    // SAFETY: restores the default disposition; no handler code is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let mode = match parse_args(args) {
        Ok(mode) => mode,
        Err(message) => {
            let _ = writeln!(Fd(2), "penguinshell: {message} (try penguinshell --help)");
            return ExitCode::from(2);
        }
    };
    let mut shell = Shell::new();
    shell.set_terminal(io::stdout().is_terminal());
    let status = match mode {
        Mode::Help => {
            let _ = Fd(1).write_all(USAGE.as_bytes());
            0
        }
        Mode::Version => {
            let version = concat!("penguinshell ", env!("CARGO_PKG_VERSION"), "\n");
            let _ = Fd(1).write_all(version.as_bytes());
            0
        }
        Mode::Command(line) => {
            let flow = shell.run_line(&line, &mut Fd(1), &mut Fd(2));
            match flow {
                Flow::Exit(status) => status,
                Flow::Continue => shell.status(),
            }
        }
        Mode::Stdin if io::stdin().is_terminal() => repl::run(&mut shell),
        Mode::Stdin => run_lines(&mut shell, io::stdin().lock()),
    };
    ExitCode::from((status & 0xff) as u8)
}

/// Runs every line of `input` until its end or `exit`; returns the exit status.
/// A line longer than 1 MiB is read to its end without being kept, and refused.
fn run_lines(shell: &mut Shell, mut input: impl BufRead) -> i32 {
    // Unbuffered: builtins write each output whole, and programs share descriptor 1.
    let (mut out, mut err) = (Fd(1), Fd(2));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match shell::read_line(&mut input, &mut buf) {
            Ok(0) => return shell.status(),
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "penguinshell: cannot read stdin: {e}");
                return 1;
            }
        }
        let line = String::from_utf8_lossy(&buf);
        if let Flow::Exit(status) = shell.run_line(&line, &mut out, &mut err) {
            return status;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Mode, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags() {
        assert_eq!(parse(&[]), Ok(Mode::Stdin));
        assert_eq!(parse(&["--help"]), Ok(Mode::Help));
        assert_eq!(parse(&["-h"]), Ok(Mode::Help));
        assert_eq!(parse(&["--version"]), Ok(Mode::Version));
        assert_eq!(parse(&["-c", "ls /"]), Ok(Mode::Command("ls /".into())));
        assert_eq!(parse(&["-c"]), Err("-c needs a command".into()));
        assert_eq!(parse(&["-x"]), Err("unknown argument -x".into()));
        assert_eq!(
            parse(&["-c", "a", "b"]),
            Err("unexpected argument b".into())
        );
    }

    #[test]
    fn lines_run_until_the_end_of_input() {
        let mut shell = Shell::new();
        let input: &[u8] = b"ls /definitely-not-here\n";
        assert_eq!(run_lines(&mut shell, input), 1);
        let input: &[u8] = b"exit 7\necho never\n";
        assert_eq!(run_lines(&mut shell, input), 7);
        let mut shell = Shell::new();
        let input: &[u8] = b"false\nexit\n";
        assert_eq!(run_lines(&mut shell, input), 1);
    }
}
