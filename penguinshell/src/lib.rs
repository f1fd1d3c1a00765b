//! # penguinshell: the one program in the image
//!
//! The article this workspace follows builds a container image by hand, and the
//! image holds a single file: a shell. This crate is that shell. It is small on
//! purpose (every kilobyte lands in the image), fully static when built with
//! `cargo xtask shell`, and pleasant on a terminal: a `🐧 ` prompt, line editing,
//! history, Tab completion.
//!
//! Because the image has no `/bin/ls` nor `/bin/cat`, the commands you need to
//! look around are builtins: `ls`, `cat`, `cd`, `echo`, `pwd`, `env`, `type`,
//! `export`, `unset`, `true`, `false`, `exit`, `help`. Anything else runs as a
//! program found on `PATH`, exactly as in any shell (`command not found`, status
//! 127, when there is none, which in the bare image is always).
//!
//! ## How a line runs
//!
//! 1. [`parse`] splits the line into lists (`;`, newline) of pipelines joined by
//!    `&&` and `||`; a pipeline is commands joined by `|`; a command has
//!    `NAME=value` assignments, words and redirections (`<`, `>`, `>>`, `2>`,
//!    `2>&1`, `>&2`). Quotes, backslashes, comments, `$NAME`, `${NAME}`, `$?`,
//!    `~` and the glob characters `*`, `?`, `[` are recorded without looking
//!    anything up. Syntax it does not have is refused by name.
//! 2. [`expand`] turns each word into arguments just before its command runs, so
//!    `false; echo $?` prints `1`; an unquoted pattern becomes the sorted paths it
//!    matches.
//! 3. [`shell::Shell`] opens the redirections and pipes, then runs each command:
//!    a builtin ([`builtins`]) in the shell, or in a forked copy when it feeds a
//!    pipe; a program through [`spawn`] (`posix_spawnp`, then `waitpid`).
//! 4. [`shell::Shell`] remembers the status for `$?` and the next line.
//!
//! ```
//! use penguinshell::shell::{Flow, Shell};
//!
//! let mut shell = Shell::new();
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let line = "echo 'hello, penguin' | cat; ls /nope || echo fallback; X=1; echo $X";
//! let flow = shell.run_line(line, &mut out, &mut err);
//! assert_eq!(flow, Flow::Continue);
//! assert_eq!(out, b"hello, penguin\nfallback\n1\n");
//! assert_eq!(err, b"ls: /nope: No such file or directory\n");
//! ```
//!
//! ## The edges (the binary)
//!
//! The library does no terminal work. The `penguinshell` binary picks a mode:
//! `-c CMD` runs one line; a terminal on stdin gets the interactive REPL
//! (rustyline; Ctrl-C abandons the line, Ctrl-D on an empty line exits with the
//! last status, as `exit` does); any other stdin is read line by line (at most
//! 1 MiB a line: a longer one is read without being kept, and refused), only
//! command output reaches stdout, and the shell exits at end of input with the
//! last status. rustyline is only set up in the interactive mode, so
//! `penguinshell -c 'echo hi'` starts as fast as `dash`.
//!
//! ## What it does not do
//!
//! No background jobs, command substitution, here-documents, functions,
//! compound commands (`if`, `for`, `while`, `case`), field splitting or scripts
//! beyond one line at a time: each is refused with a line naming it. Enough to
//! look around a container, small enough to read in one sitting.

pub mod builtins;
pub mod expand;
pub mod parse;
#[cfg(test)]
mod proptests;
pub mod shell;
pub mod spawn;
