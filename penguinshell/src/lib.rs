//! # penguinshell: the one program in the image
//!
//! The article this workspace follows builds a container image by hand, and the
//! image holds a single file: a shell. This crate is that shell. It is small on
//! purpose (every kilobyte lands in the image), fully static when built with
//! `cargo xtask shell`, and pleasant on a terminal: a `🐧 ` prompt, line editing,
//! history, Tab completion.
//!
//! Because the image has no `/bin/ls`, the commands you need to look around are
//! builtins: `ls`, `cd`, `echo`, `pwd`, `exit`, `help`. Anything else runs as a
//! program found on `PATH`, exactly as in any shell (`command not found`, status
//! 127, when there is none, which in the bare image is always).
//!
//! ## How a line runs
//!
//! 1. [`parse`] splits the line into commands (`;`) and words, honouring quotes,
//!    backslashes and comments, and records `$NAME`, `${NAME}`, `$?` without
//!    looking anything up.
//! 2. [`expand`] turns each word into an argument string, just before its command
//!    runs, so `false; echo $?` prints `1`.
//! 3. [`builtins`] runs the command if it is a builtin; otherwise
//!    [`shell::run_program`] starts the program found on `PATH` ([`spawn`]:
//!    `posix_spawnp`, then `waitpid`) and waits for it.
//! 4. [`shell::Shell`] remembers the status for `$?` and the next line.
//!
//! ```
//! use penguinshell::shell::{Flow, Shell};
//!
//! let mut shell = Shell::new();
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let flow = shell.run_line("echo 'hello, penguin'; ls /nope; echo $?", &mut out, &mut err);
//! assert_eq!(flow, Flow::Continue);
//! assert_eq!(out, b"hello, penguin\n1\n");
//! assert_eq!(err, b"ls: /nope: No such file or directory\n");
//! ```
//!
//! ## The edges (the binary)
//!
//! The library does no terminal work. The `penguinshell` binary picks a mode:
//! `-c CMD` runs one line; a terminal on stdin gets the interactive REPL
//! (rustyline; Ctrl-C abandons the line, Ctrl-D on an empty line exits 0); any other
//! stdin is read line by line, only command output reaches stdout, and the shell
//! exits at end of input with the last status. rustyline is only set up in the
//! interactive mode, so `penguinshell -c 'echo hi'` starts as fast as `dash`.
//!
//! ## What it does not do
//!
//! No pipes, redirections, globbing, field splitting, job control or scripts
//! beyond one command per line: enough to show that the image works, small enough
//! to read in one sitting.

pub mod builtins;
pub mod expand;
pub mod parse;
pub mod shell;
pub mod spawn;
