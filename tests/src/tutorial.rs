//! The tutorial runner: executes every `console` block of a Markdown file and checks its output.
//!
//! In a ```` ```console ```` block, a line starting with `$ ` is a command (a trailing `\`
//! continues it on the next line); the lines after it, up to the next command, are its expected
//! output (stdout and stderr together). In expected output, a line `...` matches any number of
//! lines and `[..]` matches any text within a line. A command must exit 0. Commands run one
//! after another in `bash`, in one working directory, and `export`s and `cd`s carry over,
//! so the file reads exactly like a terminal session a reader can repeat.
//!
//! A ```` ```terminal ```` block is a transcript of an interactive program on a real
//! pseudo-terminal: its `$ ` line starts the program in a tmux pane (100 columns) with the
//! session's exports and directory; each later line that starts with the prompt `🐧 ` is typed
//! there once the prompt shows; the expected lines are then matched against the rendered screen,
//! exactly what a reader sees, prompts and echo included.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The penguin shell's prompt: in a terminal block, the rest of such a line is typed.
pub const PROMPT: &str = "🐧 ";

/// One command of the tutorial and what it must print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the command in the Markdown file.
    pub line: usize,
    pub command: String,
    pub expected: Vec<String>,
    /// Run on a pseudo-terminal, typing after each prompt (a ```` ```terminal ```` block).
    pub terminal: bool,
}

/// The steps of every ```` ```console ```` and ```` ```terminal ```` block of `markdown`.
pub fn parse(markdown: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut block: Option<bool> = None; // Some(terminal?) inside a block that runs
    let mut in_fence = false;
    let mut continuing = false;
    let mut terminal_started = false; // a terminal block's one command is read
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            block = match trimmed.trim_start_matches('`').trim() {
                "console" if in_fence => Some(false),
                "terminal" if in_fence => Some(true),
                _ => None,
            };
            continuing = false;
            terminal_started = false;
            continue;
        }
        let Some(terminal) = block else {
            continue;
        };
        if terminal_started {
            // a terminal block: everything after its command is the screen
            if let Some(step) = steps.last_mut() {
                step.expected.push(line.to_owned());
            }
            continue;
        }
        terminal_started = terminal && line.starts_with("$ ");
        if continuing {
            let step = steps.last_mut().expect("a continued command");
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                line: index + 1,
                command: command.to_owned(),
                expected: Vec::new(),
                terminal,
            });
            continuing = line.ends_with('\\');
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.to_owned());
        }
    }
    steps
}

/// Does `actual` match `expected`, with `...` lines and `[..]` wildcards? A table over (pattern
/// line, output line) pairs, so a long transcript with many `...` stays linear to check.
pub fn matches(expected: &[String], actual: &[&str]) -> bool {
    let (m, n) = (expected.len(), actual.len());
    // ok[i][j]: expected[i..] matches actual[j..]
    let mut ok = vec![vec![false; n + 1]; m + 1];
    ok[m][n] = true;
    for i in (0..m).rev() {
        let any_lines = expected[i].trim() == "...";
        for j in (0..=n).rev() {
            ok[i][j] = if any_lines {
                ok[i + 1][j] || (j < n && ok[i][j + 1])
            } else {
                j < n && line_matches(&expected[i], actual[j]) && ok[i + 1][j + 1]
            };
        }
    }
    ok[0][0]
}

fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Runs the steps in order in `workdir` with `env`; returns the first failure as a message.
pub fn run(
    steps: &[Step],
    file: &Path,
    workdir: &Path,
    env: &[(String, String)],
) -> Result<(), String> {
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let env_file = state.path().join("env");
    let cwd_file = state.path().join("cwd");
    std::fs::write(&cwd_file, workdir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    std::fs::write(&env_file, "").map_err(|e| e.to_string())?;
    for step in steps {
        if step.terminal {
            run_on_terminal(step, file, &env_file, &cwd_file, env)?;
            continue;
        }
        let script = format!(
            "source {env}\ncd \"$(cat {cwd})\"\n{{\n{cmd}\n}} 2>&1\nstatus=$?\nexport -p > {env}\npwd > {cwd}\nexit $status\n",
            env = shell_quote(&env_file),
            cwd = shell_quote(&cwd_file),
            cmd = step.command,
        );
        eprintln!(
            "tutorial {}:{}: $ {}",
            file.display(),
            step.line,
            step.command
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let actual: Vec<&str> = text.lines().collect();
        if !out.status.success() {
            return Err(format!(
                "{}:{}: `{}` failed with {}\n{text}",
                file.display(),
                step.line,
                step.command,
                out.status
            ));
        }
        if !matches(&step.expected, &actual) {
            return Err(format!(
                "{}:{}: `{}` printed something else\n--- expected\n{}\n--- actual\n{text}",
                file.display(),
                step.line,
                step.command,
                step.expected.join("\n")
            ));
        }
    }
    Ok(())
}

/// Runs a terminal step in a tmux pane: types each prompt line's input once the prompt shows,
/// waits for the program to end, then matches the rendered screen.
fn run_on_terminal(
    step: &Step,
    file: &Path,
    env_file: &Path,
    cwd_file: &Path,
    env: &[(String, String)],
) -> Result<(), String> {
    let where_ = format!("{}:{}", file.display(), step.line);
    eprintln!("tutorial {where_}: (terminal) $ {}", step.command);
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = state.path().join("run");
    std::fs::write(
        &script,
        format!(
            "source {env}\ncd \"$(cat {cwd})\"\n{cmd}\n",
            env = shell_quote(env_file),
            cwd = shell_quote(cwd_file),
            cmd = step.command
        ),
    )
    .map_err(|e| e.to_string())?;
    let socket = format!("tutorial-{}-{}", std::process::id(), step.line);
    let tmux = |args: &[&str]| -> Result<String, String> {
        let out = Command::new(crate::tools::require("tmux"))
            .arg("-L")
            .arg(&socket)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .map_err(|e| format!("cannot run tmux: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{where_}: tmux {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let script_arg = format!("bash {}", shell_quote(&script));
    let result = (|| {
        tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "50",
        ])?;
        tmux(&["set-option", "-g", "remain-on-exit", "on"])?;
        tmux(&["respawn-pane", "-k", &script_arg])?;
        let screen = || tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
        let inputs = step
            .expected
            .iter()
            .filter_map(|l| l.strip_prefix(PROMPT).map(|typed| typed.to_owned()));
        for typed in inputs {
            let shown = Instant::now();
            // the prompt shows as the last line of the screen, nothing typed after it yet
            let prompt_shows = |screen: &str| {
                let last = screen.lines().rev().find(|l| !l.trim().is_empty());
                last.is_some_and(|l| l.trim_end() == PROMPT.trim_end())
            };
            while !prompt_shows(&screen()?) {
                if shown.elapsed() > Duration::from_secs(120) {
                    return Err(format!(
                        "{where_}: no prompt to type `{typed}` at\n{}",
                        screen()?
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            tmux(&["send-keys", "-l", &typed])?;
            tmux(&["send-keys", "Enter"])?;
            // wait until the typed line is taken, so the next prompt is a new one
            std::thread::sleep(Duration::from_millis(200));
        }
        let started = Instant::now();
        while tmux(&["display-message", "-p", "#{pane_dead}"])?.trim() != "1" {
            if started.elapsed() > Duration::from_secs(120) {
                return Err(format!("{where_}: the program did not end\n{}", screen()?));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        screen()
    })();
    let _ = tmux(&["kill-server"]);
    let text = result?;
    let mut actual: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.starts_with("Pane is dead"))
        .collect();
    while actual.last().is_some_and(|l| l.is_empty()) {
        actual.pop();
    }
    let expected: Vec<String> = step
        .expected
        .iter()
        .map(|l| l.trim_end().to_owned())
        .collect();
    if !matches(&expected, &actual) {
        return Err(format!(
            "{where_}: `{}` showed something else on the terminal\n--- expected\n{}\n--- actual\n{}",
            step.command,
            expected.join("\n"),
            actual.join("\n")
        ));
    }
    Ok(())
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod unit {
    use super::*;

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn parses_commands_outputs_and_continuations() {
        let md = "text\n```console\n$ echo a \\\n  b\na b\n$ true\n```\n```sh\n$ not run\n```\n";
        let steps = parse(md);
        assert_eq!(
            steps,
            vec![
                Step {
                    line: 3,
                    command: "echo a \\\n  b".into(),
                    expected: lines(&["a b"]),
                    terminal: false,
                },
                Step {
                    line: 6,
                    command: "true".into(),
                    expected: vec![],
                    terminal: false,
                },
            ]
        );
    }

    #[test]
    fn wildcards_match_lines_and_within_lines() {
        assert!(matches(&lines(&["a", "...", "z"]), &["a", "b", "c", "z"]));
        assert!(matches(&lines(&["a", "...", "z"]), &["a", "z"]));
        assert!(!matches(&lines(&["a", "...", "z"]), &["a", "b"]));
        assert!(matches(
            &lines(&["digest sha256:[..]"]),
            &["digest sha256:abc"]
        ));
        assert!(matches(
            &lines(&["[..] size [..] bytes"]),
            &["layer size 12 bytes"]
        ));
        assert!(!matches(&lines(&["size [..] bytes"]), &["size 12 kB"]));
        assert!(!matches(&lines(&["x"]), &["x", "y"]));
        assert!(matches(&lines(&[]), &[]));
    }

    #[test]
    fn runs_steps_keeping_exports_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let steps = parse(
            "```console\n$ export X=penguin\n$ cd sub\n$ echo $X; basename $PWD\npenguin\nsub\n```\n",
        );
        run(&steps, Path::new("t.md"), dir.path(), &[]).unwrap();
        let bad = parse("```console\n$ echo one\ntwo\n```\n");
        let err = run(&bad, Path::new("t.md"), dir.path(), &[]).unwrap_err();
        assert!(
            err.contains("t.md:2: `echo one` printed something else"),
            "{err}"
        );
        let failing = parse("```console\n$ false\n```\n");
        assert!(
            run(&failing, Path::new("t.md"), dir.path(), &[])
                .unwrap_err()
                .contains("failed")
        );
    }

    #[test]
    fn a_terminal_block_types_after_each_prompt_and_matches_the_screen() {
        let dir = tempfile::tempdir().unwrap();
        let md = "```console\n$ export WHO=penguin\n```\n```terminal\n$ PS1='🐧 ' bash --norc --noprofile -i\n🐧 echo hi $WHO\nhi penguin\n🐧 tty | grep -c /dev/pts\n1\n🐧 exit\n...\n```\n";
        let steps = parse(md);
        assert_eq!(steps.len(), 2);
        assert!(steps[1].terminal);
        assert_eq!(steps[1].expected.len(), 6);
        run(&steps, Path::new("t.md"), dir.path(), &[]).unwrap();
        let wrong = md.replace("hi penguin", "hi walrus");
        let err = run(&parse(&wrong), Path::new("t.md"), dir.path(), &[]).unwrap_err();
        assert!(err.contains("showed something else"), "{err}");
    }
}
