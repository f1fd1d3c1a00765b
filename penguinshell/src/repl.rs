//! The interactive edge: the `🐧 ` prompt on rustyline, session history, Tab
//! completion of builtin names and paths. Every line goes to [`Shell::run_line`];
//! nothing here knows the language.

use penguinshell::builtins;
use penguinshell::shell::{Flow, Shell};
use penguinshell::spawn::Fd;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};
use std::io::Write;

/// The prompt, as in the article.
pub const PROMPT: &str = "🐧 ";

/// Status after Ctrl-C abandons a line, as in other shells (128 + SIGINT).
const INTERRUPTED: i32 = 130;

/// Runs the REPL until `exit` or Ctrl-D on an empty line; returns the exit status:
/// `exit`'s, or for Ctrl-D the last command's, as `exit` without a number.
pub fn run(shell: &mut Shell) -> i32 {
    keep_running_on_ctrl_c();
    let config = Config::builder()
        .auto_add_history(true)
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<ShellHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            let _ = writeln!(Fd(2), "penguinshell: cannot set up the terminal: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(ShellHelper {
        files: FilenameCompleter::new(),
    }));
    let (mut out, mut err) = (Fd(1), Fd(2));
    loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                if let Flow::Exit(status) = shell.run_line(&line, &mut out, &mut err) {
                    return status;
                }
            }
            Err(ReadlineError::Interrupted) => shell.set_status(INTERRUPTED),
            Err(ReadlineError::Eof) => {
                // Leave the terminal's own prompt on a fresh line.
                let _ = out.write_all(b"\n");
                return shell.status();
            }
            Err(e) => {
                let _ = writeln!(err, "penguinshell: cannot read the line: {e}");
                return 1;
            }
        }
    }
}

/// While a program runs in the foreground, Ctrl-C sends SIGINT to it *and* to
/// the shell. A handler that does nothing keeps the shell alive; unlike an
/// ignored signal, a handled one is reset to its default in the programs we start.
/// Without `SA_RESTART`, a builtin reading the terminal (`cat`) sees its read
/// interrupted, and stops.
fn keep_running_on_ctrl_c() {
    extern "C" fn note_ctrl_c(_: libc::c_int) {
        builtins::CTRL_C.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let handler: extern "C" fn(libc::c_int) = note_ctrl_c;
    // SAFETY: the handler only stores to an atomic, so it is async-signal-safe; the
    // sigaction struct is fully initialised (zeroed: no flags, empty mask).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// rustyline's hooks: completion only; no hints, colours or multi-line input.
struct ShellHelper {
    files: FilenameCompleter,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    /// In command position (start of line, after `;`, `|`, `&&`, `||`), builtin names; when no
    /// builtin matches, or the word holds a `/`, or elsewhere, paths.
    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if let Some((start, names)) = complete_command_name(line, pos) {
            return Ok((start, names));
        }
        self.files.complete(line, pos, ctx)
    }
}

/// Builtin names for the word before `pos`, if it is in command position and
/// some builtin starts with it: `(start of the word, candidates)`.
fn complete_command_name(line: &str, pos: usize) -> Option<(usize, Vec<Pair>)> {
    let head = &line[..pos];
    let start = head.rfind([' ', '\t', ';', '|', '&']).map_or(0, |i| i + 1);
    let word = &head[start..];
    let before = head[..start].trim_end_matches([' ', '\t']);
    if !(before.is_empty() || before.ends_with([';', '|', '&'])) || word.contains('/') {
        return None;
    }
    let names: Vec<Pair> = builtins::names_starting_with(word)
        .map(|name| Pair {
            display: name.to_string(),
            replacement: format!("{name} "),
        })
        .collect();
    (!names.is_empty()).then_some((start, names))
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Option<(usize, Vec<String>)> {
        complete_command_name(line, line.len())
            .map(|(start, pairs)| (start, pairs.into_iter().map(|p| p.replacement).collect()))
    }

    #[test]
    fn command_position_completes_builtins() {
        assert_eq!(names("ec"), Some((0, vec!["echo ".into()])));
        assert_eq!(
            names("ex"),
            Some((0, vec!["exit ".into(), "export ".into()]))
        );
        assert_eq!(names("  pw"), Some((2, vec!["pwd ".into()])));
        assert_eq!(names("ls; c"), Some((4, vec!["cat ".into(), "cd ".into()])));
        assert_eq!(names("ls | ca"), Some((5, vec!["cat ".into()])));
        assert_eq!(
            names("false || t"),
            Some((9, vec!["true ".into(), "type ".into()]))
        );
    }

    #[test]
    fn arguments_and_paths_are_left_to_path_completion() {
        assert_eq!(names("ls e"), None);
        assert_eq!(names("./e"), None);
        assert_eq!(names("zz"), None);
    }
}
