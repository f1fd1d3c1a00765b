//! The shell with stdin from a pipe, and with `-c`.

use super::{bundle, ran, run};

#[test]
fn piped_ls_prints_exactly_the_names() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &[], "ls\n"),
        ran(0, "bin dev etc proc sys\n", "")
    );
    let path = dir.path().to_str().unwrap();
    assert_eq!(
        run(dir.path(), &[], &format!("ls {path}\n")),
        ran(0, "bin dev etc proc sys\n", "")
    );
}

#[test]
fn piped_mode_prints_no_prompt_and_exits_with_the_last_status() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &[], "echo hi\nls /nope\n"),
        ran(1, "hi\n", "ls: /nope: No such file or directory\n")
    );
    assert_eq!(
        run(dir.path(), &[], "ls /nope\necho $?\n"),
        ran(0, "1\n", "ls: /nope: No such file or directory\n")
    );
    assert_eq!(run(dir.path(), &[], ""), ran(0, "", ""));
}

#[test]
fn piped_mode_keeps_state_between_lines_and_stops_at_exit() {
    let dir = bundle();
    let input = "cd etc\npwd\ncd ..\nls\nexit 4\necho never\n";
    let etc = dir.path().canonicalize().unwrap().join("etc");
    assert_eq!(
        run(dir.path(), &[], input),
        ran(4, &format!("{}\nbin dev etc proc sys\n", etc.display()), "")
    );
}

#[test]
fn last_line_without_newline_still_runs() {
    let dir = bundle();
    assert_eq!(run(dir.path(), &[], "echo a\necho b"), ran(0, "a\nb\n", ""));
}

#[test]
fn dash_c_runs_one_line_with_its_status() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &["-c", "echo a; echo b"], ""),
        ran(0, "a\nb\n", "")
    );
    assert_eq!(run(dir.path(), &["-c", "exit 3"], ""), ran(3, "", ""));
    assert_eq!(
        run(dir.path(), &["-c", "ls /nope"], ""),
        ran(1, "", "ls: /nope: No such file or directory\n")
    );
    assert_eq!(
        run(dir.path(), &["-c", "no-such-penguin-command x"], ""),
        ran(127, "", "no-such-penguin-command: command not found\n")
    );
    assert_eq!(
        run(dir.path(), &["-c", "echo 'open"], ""),
        ran(
            2,
            "",
            "penguinshell: syntax error: unterminated single quote\n"
        )
    );
}

#[test]
fn dash_c_ignores_stdin() {
    let dir = bundle();
    assert_eq!(run(dir.path(), &["-c", "pwd"], "echo no\n").stderr, "");
    assert!(
        !run(dir.path(), &["-c", "pwd"], "echo no\n")
            .stdout
            .contains("no")
    );
}

#[test]
fn quotes_escapes_variables_and_comments() {
    let dir = bundle();
    let line = r#"echo "$PENGUIN" '$PENGUIN' ${PENGUIN}s \$x "a  b" $NOPE # gone"#;
    assert_eq!(
        run(dir.path(), &["-c", line], ""),
        ran(0, "tux $PENGUIN tuxs $x a  b\n", "")
    );
}

#[test]
fn programs_run_in_order_with_builtins() {
    let dir = bundle();
    assert_eq!(
        run(
            dir.path(),
            &["-c", "echo 1; sh -c 'echo 2; exit 5'; echo $?"],
            ""
        ),
        ran(0, "1\n2\n5\n", "")
    );
    assert_eq!(
        run(dir.path(), &[], "echo 1\nsh -c 'echo 2 >&2'\necho 3\n"),
        ran(0, "1\n3\n", "2\n")
    );
}

#[test]
fn help_and_version() {
    let dir = bundle();
    let help = run(dir.path(), &["--help"], "");
    assert_eq!(help.status, 0);
    assert!(
        help.stdout
            .starts_with("usage: penguinshell [-c COMMAND]\n")
    );
    assert_eq!(
        run(dir.path(), &["--version"], ""),
        ran(
            0,
            &format!("penguinshell {}\n", env!("CARGO_PKG_VERSION")),
            ""
        )
    );
    let builtin_help = run(dir.path(), &["-c", "help"], "");
    assert!(builtin_help.stdout.contains("ls [-a] [-l] [PATH...]"));
}

#[test]
fn bad_flags_are_one_error_line_and_status_2() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &["--frobnicate"], ""),
        ran(
            2,
            "",
            "penguinshell: unknown argument --frobnicate (try penguinshell --help)\n"
        )
    );
    assert_eq!(
        run(dir.path(), &["-c"], ""),
        ran(
            2,
            "",
            "penguinshell: -c needs a command (try penguinshell --help)\n"
        )
    );
}

#[test]
fn errors_do_not_stop_the_shell() {
    let dir = bundle();
    let input = "ls /nope\ncd /nope\nnope-penguin\necho \"$?\"\nls\n";
    assert_eq!(
        run(dir.path(), &[], input),
        ran(
            0,
            "127\nbin dev etc proc sys\n",
            "ls: /nope: No such file or directory\n\
             cd: /nope: No such file or directory\n\
             nope-penguin: command not found\n"
        )
    );
}

#[test]
fn a_vanished_reader_ends_the_shell() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let dir = bundle();
    let mut child = Command::new(super::SHELL)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ls\n").unwrap();
    // Read one line, then hang up, as `head -1` would.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "bin dev etc proc sys\n");
    // Output now has nowhere to go: the shell ends by SIGPIPE at its next `ls`
    // instead of carrying on (at end of input it would exit 0). Many lines,
    // because a program another test starts at that very moment briefly holds
    // copies of our descriptors, which can let one write through.
    for _ in 0..1000 {
        if stdin.write_all(b"ls\n").is_err() {
            break;
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}

#[test]
fn pipes_redirections_and_lists() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &[], "echo hi > f; cat < f | cat\n"),
        ran(0, "hi\n", "")
    );
    assert_eq!(
        run(dir.path(), &[], "ls /nope || echo fallback\n"),
        ran(0, "fallback\n", "ls: /nope: No such file or directory\n")
    );
    assert_eq!(
        run(dir.path(), &[], "ls /nope 2>&1 | cat > log && cat log\n"),
        ran(0, "ls: /nope: No such file or directory\n", "")
    );
    assert_eq!(
        run(
            dir.path(),
            &["-c", "sh -c 'echo out; echo err >&2' 2>&1 >/dev/null | cat"],
            ""
        ),
        ran(0, "err\n", "")
    );
}

#[test]
fn variables_globs_and_builtins() {
    let dir = bundle();
    assert_eq!(run(dir.path(), &[], "X=1; echo $X\n"), ran(0, "1\n", ""));
    assert_eq!(
        run(
            dir.path(),
            &[],
            "X=1\nsh -c 'echo [$X]'\nexport X\nsh -c 'echo [$X]'\n"
        ),
        ran(0, "[]\n[1]\n", "")
    );
    for name in ["b.md", "a.md", "notes.txt"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    assert_eq!(
        run(dir.path(), &[], "echo *.md; echo *.none; echo '*.md'\n"),
        ran(0, "a.md b.md\n*.none\n*.md\n", "")
    );
    assert_eq!(
        run(dir.path(), &[], "type cat ls; true && false; echo $?\n"),
        ran(0, "cat is a shell builtin\nls is a shell builtin\n1\n", "")
    );
    std::fs::write(dir.path().join("etc/hostname"), "penguin\n").unwrap();
    assert_eq!(
        run(dir.path(), &[], "cat etc/hostname /nope\n"),
        ran(1, "penguin\n", "cat: /nope: No such file or directory\n")
    );
}

#[test]
fn unsupported_syntax_is_one_line_and_runs_nothing() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &[], "echo a; sleep 5 &\necho $?\n"),
        ran(
            0,
            "2\n",
            "penguinshell: `&` (background jobs) is not supported (type help)\n"
        )
    );
    assert_eq!(
        run(dir.path(), &["-c", "echo $(ls)"], ""),
        ran(
            2,
            "",
            "penguinshell: `$(...)` (command substitution) is not supported (type help)\n"
        )
    );
}

#[test]
fn exit_and_end_of_input_use_the_last_status() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &[], "ls /nope 2>/dev/null\nexit\n").status,
        1
    );
    assert_eq!(run(dir.path(), &[], "ls /nope 2>/dev/null\n").status, 1);
    assert_eq!(run(dir.path(), &[], "false\ntrue\n").status, 0);
}

#[test]
fn ls_names_a_bad_option_as_typed_and_writes_names_raw_into_a_pipe() {
    let dir = bundle();
    assert_eq!(
        run(dir.path(), &["-c", "ls --all"], ""),
        ran(
            2,
            "",
            "ls: --all: unknown option (usage: ls [-a] [-l] [PATH...])\n"
        )
    );
    // Not a terminal: names as they are, as `help ls` documents.
    std::fs::write(dir.path().join("tab\there"), "").unwrap();
    assert_eq!(
        run(dir.path(), &["-c", "ls"], "").stdout,
        "bin dev etc proc sys tab\there\n"
    );
    let help = run(dir.path(), &["-c", "help ls"], "").stdout;
    assert!(help.contains("Otherwise (a pipe, a file): names as\nthey are"));
}

/// A 20 MB line of NUL bytes: refused in one short line, read without keeping it
/// (bounded memory), and the shell carries on with the next line.
#[test]
fn a_huge_line_is_refused_with_bounded_memory_and_output() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let dir = bundle();
    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, for its rusage"
    )]
    let mut child = Command::new(super::SHELL)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..20 {
            stdin.write_all(&zeros).unwrap();
        }
        stdin.write_all(b"\necho after\n").unwrap();
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).unwrap();
        text
    });
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    writer.join().unwrap();
    let stdout = reader.join().unwrap();
    // wait4 reports the peak memory of this very child.
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it and the status.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert_eq!(
        String::from_utf8(stderr).unwrap(),
        "penguinshell: line too long (the limit is 1 MiB)\n"
    );
    assert_eq!(stdout, b"after\n");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // Max RSS in KiB: far below the 20 MB that keeping the line would take.
    assert!(
        usage.ru_maxrss < 16 * 1024,
        "max RSS {} KiB",
        usage.ru_maxrss
    );
}
