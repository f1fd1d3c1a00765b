//! The tutorial runner: executes every `console` block of a Markdown file and checks its output.
//!
//! In a ```` ```console ```` block, a line starting with `$ ` is a command (a trailing `\`
//! continues it on the next line); the lines after it, up to the next command, are its expected
//! output (stdout and stderr together). In expected output, a line `...` matches any number of
//! lines and `[..]` matches any text within a line. A command must exit 0. Commands run one
//! after another in `bash`, in one working directory, and `export`s and `cd`s carry over,
//! so the file reads exactly like a terminal session a reader can repeat.

use std::path::Path;
use std::process::Command;

/// One command of the tutorial and what it must print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the command in the Markdown file.
    pub line: usize,
    pub command: String,
    pub expected: Vec<String>,
}

/// The steps of every ```` ```console ```` block of `markdown`, in order.
pub fn parse(markdown: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    let mut continuing = false;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_console = !in_console && trimmed.trim_start_matches('`').trim() == "console";
            continuing = false;
            continue;
        }
        if !in_console {
            continue;
        }
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
            });
            continuing = line.ends_with('\\');
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.to_owned());
        }
    }
    steps
}

/// Does `actual` match `expected`, with `...` lines and `[..]` wildcards?
pub fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => match actual.split_first() {
            Some((line, more)) => line_matches(first, line) && matches(rest, more),
            None => false,
        },
    }
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
                    expected: lines(&["a b"])
                },
                Step {
                    line: 6,
                    command: "true".into(),
                    expected: vec![]
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
}
