//! The builtin commands: `ls`, `cd`, `echo`, `pwd`, `exit` and `help`.
//!
//! In the article's image the shell is the only file, so `ls` cannot be a program
//! on `PATH`: it has to live inside the shell. Every builtin writes its output to
//! `out` and its errors to `err`, one line each, shaped `NAME: SUBJECT: reason`
//! (`ls: /nope: No such file or directory`), and returns an exit status instead of
//! stopping the shell. Only `exit` ends the shell, through [`Outcome::Exit`].

use crate::shell::Vars;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The names of the builtins, sorted, for `help` and Tab completion.
pub const NAMES: [&str; 6] = ["cd", "echo", "exit", "help", "ls", "pwd"];

/// What running a builtin asks of the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Carry on; the command ended with this status.
    Status(i32),
    /// Stop the shell with this status (`exit`).
    Exit(i32),
}

/// The builtin names that start with `prefix`, for Tab completion of a command name.
pub fn names_starting_with(prefix: &str) -> impl Iterator<Item = &'static str> + '_ {
    NAMES.into_iter().filter(move |n| n.starts_with(prefix))
}

/// Runs `argv` if `argv[0]` names a builtin; `None` when it does not.
///
/// `vars` is the shell's variables (`cd` reads `HOME`, `OLDPWD` and sets `PWD`,
/// `OLDPWD`), `last_status` the status `exit` uses without an argument.
pub fn run_builtin(
    argv: &[String],
    vars: &mut Vars,
    last_status: i32,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<Outcome> {
    let (name, args) = argv.split_first()?;
    let result = match name.as_str() {
        "ls" => ls(args, out, err),
        "cd" => cd(args, vars, out, err),
        "echo" => echo(args, out),
        "pwd" => pwd(args, out, err),
        "help" => help(out),
        "exit" => return Some(exit(args, last_status, err)),
        _ => return None,
    };
    let status = match result.and_then(|status| out.flush().map(|()| status)) {
        Ok(status) => status,
        // The reader went away (`penguinshell -c 'ls /' | head -0`): not worth a word.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 1,
        Err(e) => {
            let _ = writeln!(err, "{name}: write error: {}", error_message(&e));
            1
        }
    };
    Some(Outcome::Status(status))
}

/// The reason in an I/O error, without Rust's ` (os error N)` suffix:
/// `No such file or directory`, as every Unix tool says it.
pub fn error_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Writes the one-line error `CMD: SUBJECT: reason` to `err`.
fn report(err: &mut dyn Write, cmd: &str, subject: &OsStr, e: &io::Error) {
    let mut line = Vec::new();
    line.extend_from_slice(cmd.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(subject.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(error_message(e).as_bytes());
    line.push(b'\n');
    // Nowhere left to report a failure to write to stderr.
    let _ = err.write_all(&line);
}

/// `ls [-a] [-l] [PATH...]`: list directories, or name files.
///
/// Names are sorted bytewise and printed on one line separated by single spaces;
/// names starting with `.` are hidden unless `-a`. `-l` prints one entry per line:
/// type and permission bits, size, name, and `-> target` for a symlink (a symlink
/// given as an argument is then shown itself, not followed). Several paths each get
/// a `PATH:` header. A path that cannot be read is reported and skipped; the status
/// is then 1 (2 for a bad option).
pub fn ls(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    let (mut all, mut long) = (false, false);
    let mut paths = Vec::new();
    let mut options_done = false;
    for arg in args {
        if options_done || arg == "-" || !arg.starts_with('-') {
            paths.push(arg.as_str());
        } else if arg == "--" {
            options_done = true;
        } else {
            for c in arg[1..].chars() {
                match c {
                    'a' => all = true,
                    'l' => long = true,
                    _ => {
                        writeln!(
                            err,
                            "ls: -{c}: unknown option (usage: ls [-a] [-l] [PATH...])"
                        )?;
                        return Ok(2);
                    }
                }
            }
        }
    }
    if paths.is_empty() {
        paths.push(".");
    }

    let mut status = 0;
    let mut first = true;
    for path in &paths {
        let path = Path::new(path);
        let meta = match if long {
            fs::symlink_metadata(path)
        } else {
            // Follow a symlink to list its target, but still name a dangling one.
            fs::metadata(path).or_else(|e| match fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => Ok(m),
                _ => Err(e),
            })
        } {
            Ok(meta) => meta,
            Err(e) => {
                report(err, "ls", path.as_os_str(), &e);
                status = 1;
                continue;
            }
        };
        if paths.len() > 1 {
            if !first {
                out.write_all(b"\n")?;
            }
            out.write_all(path.as_os_str().as_bytes())?;
            out.write_all(b":\n")?;
        }
        first = false;

        if !meta.is_dir() {
            let entry = Entry {
                name: path.as_os_str().to_owned(),
                path: path.to_path_buf(),
                meta,
            };
            if long {
                write_long(&[entry], out)?;
            } else {
                out.write_all(entry.name.as_bytes())?;
                out.write_all(b"\n")?;
            }
            continue;
        }

        let entries = match read_entries(path, all) {
            Ok(entries) => entries,
            Err(e) => {
                report(err, "ls", path.as_os_str(), &e);
                status = 1;
                continue;
            }
        };
        if long {
            let mut with_meta = Vec::with_capacity(entries.len());
            for (name, path) in entries {
                match fs::symlink_metadata(&path) {
                    Ok(meta) => with_meta.push(Entry { name, path, meta }),
                    Err(e) => {
                        report(err, "ls", path.as_os_str(), &e);
                        status = 1;
                    }
                }
            }
            write_long(&with_meta, out)?;
        } else if !entries.is_empty() {
            let mut line = Vec::new();
            for (i, (name, _)) in entries.iter().enumerate() {
                if i > 0 {
                    line.push(b' ');
                }
                line.extend_from_slice(name.as_bytes());
            }
            line.push(b'\n');
            out.write_all(&line)?;
        }
    }
    Ok(status)
}

/// One thing `ls -l` prints a line for.
struct Entry {
    name: std::ffi::OsString,
    path: PathBuf,
    meta: Metadata,
}

/// The names and paths in directory `dir`, sorted bytewise, dot-names only if `all`.
fn read_entries(dir: &Path, all: bool) -> io::Result<Vec<(std::ffi::OsString, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if all || !name.as_bytes().starts_with(b".") {
            entries.push((name, entry.path()));
        }
    }
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(entries)
}

/// `drwxr-xr-x  4096 name`, sizes right-aligned to the widest, `-> target` for links.
fn write_long(entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
    let width = entries
        .iter()
        .map(|e| e.meta.len().to_string().len())
        .max()
        .unwrap_or(0);
    let mut text = Vec::new();
    for e in entries {
        write!(text, "{} {:>width$} ", mode_string(&e.meta), e.meta.len())?;
        text.extend_from_slice(e.name.as_bytes());
        if e.meta.file_type().is_symlink()
            && let Ok(target) = fs::read_link(&e.path)
        {
            text.extend_from_slice(b" -> ");
            text.extend_from_slice(target.as_os_str().as_bytes());
        }
        text.push(b'\n');
    }
    out.write_all(&text)
}

/// The ten characters `ls -l` starts with: file type, then `rwx` for user, group
/// and others, with `s`/`S` for setuid and setgid and `t`/`T` for the sticky bit.
pub fn mode_string(meta: &Metadata) -> String {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else if ft.is_socket() {
        's'
    } else {
        '-'
    };
    let mode = meta.mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    // (shift of the rwx triple, special bit, letter when special bit set)
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        s.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 0o1 != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `cd [DIR]`: change directory. No argument goes to `$HOME` (`/` when unset),
/// `cd -` goes back to `$OLDPWD` and prints it. Sets `PWD` and `OLDPWD`.
pub fn cd(
    args: &[String],
    vars: &mut Vars,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let mut announce = false;
    let target = match args {
        [] => vars
            .get("HOME")
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        [dash] if dash == "-" => match vars.get("OLDPWD").filter(|d| !d.is_empty()) {
            Some(dir) => {
                announce = true;
                dir
            }
            None => {
                writeln!(err, "cd: OLDPWD not set")?;
                return Ok(1);
            }
        },
        [dir] => dir.clone(),
        _ => {
            writeln!(err, "cd: too many arguments")?;
            return Ok(1);
        }
    };
    let old = std::env::current_dir().ok();
    if let Err(e) = std::env::set_current_dir(&target) {
        report(err, "cd", OsStr::new(&target), &e);
        return Ok(1);
    }
    if let Some(old) = old {
        vars.set("OLDPWD", &old.to_string_lossy());
    }
    let new = std::env::current_dir().unwrap_or_else(|_| PathBuf::from(&target));
    vars.set("PWD", &new.to_string_lossy());
    if announce {
        out.write_all(new.as_os_str().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(0)
}

/// `echo [-n] [ARG...]`: the arguments separated by spaces, then a newline unless `-n`.
/// Backslashes are printed as they are.
pub fn echo(args: &[String], out: &mut dyn Write) -> io::Result<i32> {
    let skip = args.iter().take_while(|a| *a == "-n").count();
    let mut line = args[skip..].join(" ");
    if skip == 0 {
        line.push('\n');
    }
    out.write_all(line.as_bytes())?;
    Ok(0)
}

/// `pwd`: the current directory.
pub fn pwd(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    if !args.is_empty() {
        writeln!(err, "pwd: too many arguments")?;
        return Ok(1);
    }
    match std::env::current_dir() {
        Ok(dir) => {
            out.write_all(dir.as_os_str().as_bytes())?;
            out.write_all(b"\n")?;
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "pwd: {}", error_message(&e))?;
            Ok(1)
        }
    }
}

/// `exit [N]`: stop the shell with status N (modulo 256), or the last status.
/// A bad argument is reported and the shell carries on.
pub fn exit(args: &[String], last_status: i32, err: &mut dyn Write) -> Outcome {
    match args {
        [] => Outcome::Exit(last_status),
        [n] => match n.parse::<i64>() {
            Ok(n) => Outcome::Exit((n & 0xff) as i32),
            Err(_) => {
                let _ = writeln!(err, "exit: {n}: numeric argument required");
                Outcome::Status(2)
            }
        },
        _ => {
            let _ = writeln!(err, "exit: too many arguments");
            Outcome::Status(1)
        }
    }
}

/// The text `help` prints.
pub const HELP: &str = "\
penguinshell builtins:
  ls [-a] [-l] [PATH...]   list directory entries (-a: dot-names too, -l: long)
  cd [DIR | -]             change directory (no DIR: $HOME; -: the previous one)
  echo [-n] [ARG...]       print the arguments (-n: no newline)
  pwd                      print the current directory
  exit [N]                 leave the shell with status N (default: the last status)
  help                     this text
Any other command runs as a program found on PATH.
Syntax: 'single' and \"double\" quotes, \\ escapes, $VAR ${VAR} $?, ; between commands, # comments.
";

/// `help`: the builtins and the syntax, in a few lines.
pub fn help(out: &mut dyn Write) -> io::Result<i32> {
    out.write_all(HELP.as_bytes())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::sync::Mutex;

    /// `cd` changes the directory of the whole test process: one test at a time.
    static CWD: Mutex<()> = Mutex::new(());

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Runs `ls` with `argv`, returning (status, stdout, stderr).
    fn run_ls(argv: &[&str]) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = ls(&args(argv), &mut out, &mut err).unwrap();
        (
            status,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// A directory shaped like the article's bundle, plus a hidden file.
    fn bundle() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in ["sys", "bin", "proc", "etc", "dev"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join(".hidden"), "x").unwrap();
        dir
    }

    fn p(dir: &tempfile::TempDir) -> String {
        dir.path().to_str().unwrap().to_string()
    }

    #[test]
    fn ls_prints_sorted_names_on_one_line() {
        let dir = bundle();
        assert_eq!(
            run_ls(&[&p(&dir)]),
            (0, "bin dev etc proc sys\n".into(), "".into())
        );
    }

    #[test]
    fn ls_a_shows_dot_names() {
        let dir = bundle();
        assert_eq!(
            run_ls(&["-a", &p(&dir)]).1,
            ".hidden bin dev etc proc sys\n"
        );
    }

    #[test]
    fn ls_of_an_empty_directory_prints_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(run_ls(&[&p(&dir)]), (0, "".into(), "".into()));
    }

    #[test]
    fn ls_of_a_file_names_it_as_given() {
        let dir = bundle();
        let file = format!("{}/.hidden", p(&dir));
        assert_eq!(run_ls(&[&file]).1, format!("{file}\n"));
    }

    #[test]
    fn ls_long_shows_type_permissions_size_and_link_target() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("data"), vec![0u8; 1234]).unwrap();
        fs::set_permissions(d.join("data"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(d.join("tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(d.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(d.join("sub")).unwrap();
        fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o1777)).unwrap();
        symlink("data", d.join("link")).unwrap();

        let (status, out, err) = run_ls(&["-l", &p(&dir)]);
        let sub_size = fs::metadata(d.join("sub")).unwrap().len();
        let w = sub_size.to_string().len().max(4);
        let expected = format!(
            "-rw-r----- {:>w$} data\n\
             lrwxrwxrwx {:>w$} link -> data\n\
             drwxrwxrwt {:>w$} sub\n\
             -rwxr-xr-x {:>w$} tool\n",
            1234, 4, sub_size, 10
        );
        assert_eq!(
            (status, out.as_str(), err.as_str()),
            (0, expected.as_str(), "")
        );
    }

    #[test]
    fn ls_combined_flags_and_symlink_argument() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".dot"), "").unwrap();
        let link = format!("{}/ln", p(&dir));
        symlink(".dot", &link).unwrap();
        let (_, out, _) = run_ls(&["-la", &link]);
        assert_eq!(out, format!("lrwxrwxrwx 4 {link} -> .dot\n"));
        let (_, out, _) = run_ls(&["-al", &p(&dir)]);
        assert!(out.starts_with("-rw"), "{out}");
        assert!(out.contains(" .dot\n"), "{out}");
    }

    #[test]
    fn ls_several_paths_get_headers() {
        let a = bundle();
        let b = tempfile::tempdir().unwrap();
        fs::write(b.path().join("z"), "").unwrap();
        let (status, out, _) = run_ls(&[&p(&a), &p(&b)]);
        assert_eq!(status, 0);
        assert_eq!(
            out,
            format!("{}:\nbin dev etc proc sys\n\n{}:\nz\n", p(&a), p(&b))
        );
    }

    #[test]
    fn ls_missing_path_is_one_error_line_and_the_rest_still_lists() {
        let a = bundle();
        let missing = format!("{}/nope", p(&a));
        let (status, out, err) = run_ls(&[&missing, &p(&a)]);
        assert_eq!(status, 1);
        assert_eq!(err, format!("ls: {missing}: No such file or directory\n"));
        assert_eq!(out, format!("{}:\nbin dev etc proc sys\n", p(&a)));
    }

    #[test]
    fn ls_unknown_option() {
        let (status, out, err) = run_ls(&["-x"]);
        assert_eq!((status, out.as_str()), (2, ""));
        assert!(err.starts_with("ls: -x: unknown option"), "{err}");
    }

    #[test]
    fn ls_without_path_lists_the_current_directory() {
        let _guard = CWD.lock().unwrap_or_else(|e| e.into_inner());
        let dir = bundle();
        let back = std::env::current_dir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        let result = run_ls(&[]);
        std::env::set_current_dir(back).unwrap();
        assert_eq!(result.1, "bin dev etc proc sys\n");
    }

    #[test]
    fn mode_strings_of_special_bits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, "").unwrap();
        for (mode, text) in [
            (0o4755, "-rwsr-xr-x"),
            (0o2644, "-rw-r-Sr--"),
            (0o1000, "---------T"),
            (0o0000, "----------"),
        ] {
            fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(mode_string(&fs::metadata(&f).unwrap()), text);
        }
    }

    /// Runs `cd` with `argv` in `vars`, returning (status, stdout, stderr, new cwd).
    fn run_cd(argv: &[&str], vars: &mut Vars) -> (i32, String, String, PathBuf) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = cd(&args(argv), vars, &mut out, &mut err).unwrap();
        (
            status,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            std::env::current_dir().unwrap(),
        )
    }

    #[test]
    fn cd_moves_goes_home_goes_back_and_reports_errors() {
        let _guard = CWD.lock().unwrap_or_else(|e| e.into_inner());
        let back = std::env::current_dir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let home_path = home.path().canonicalize().unwrap();
        let other_path = other.path().canonicalize().unwrap();
        let mut vars = Vars::default();
        vars.set("HOME", home_path.to_str().unwrap());

        let (status, _, _, cwd) = run_cd(&[other_path.to_str().unwrap()], &mut vars);
        assert_eq!((status, &cwd), (0, &other_path));
        assert_eq!(vars.get("PWD").as_deref(), other_path.to_str());

        let (status, _, _, cwd) = run_cd(&[], &mut vars);
        assert_eq!((status, &cwd), (0, &home_path));
        assert_eq!(vars.get("OLDPWD").as_deref(), other_path.to_str());

        let (status, out, _, cwd) = run_cd(&["-"], &mut vars);
        assert_eq!((status, &cwd), (0, &other_path));
        assert_eq!(out, format!("{}\n", other_path.display()));

        let missing = format!("{}/nope", other_path.display());
        let (status, _, err, cwd) = run_cd(&[&missing], &mut vars);
        assert_eq!((status, &cwd), (1, &other_path));
        assert_eq!(err, format!("cd: {missing}: No such file or directory\n"));

        let (status, _, err, _) = run_cd(&["a", "b"], &mut vars);
        assert_eq!((status, err.as_str()), (1, "cd: too many arguments\n"));

        fs::write(other_path.join("file"), "").unwrap();
        let (status, _, err, _) = run_cd(&["file"], &mut vars);
        assert_eq!((status, err.as_str()), (1, "cd: file: Not a directory\n"));

        vars.set("HOME", "");
        let (status, _, _, cwd) = run_cd(&[], &mut vars);
        assert_eq!((status, cwd.as_path()), (0, Path::new("/")));

        std::env::set_current_dir(back).unwrap();
    }

    #[test]
    fn echo_joins_arguments() {
        let mut out = Vec::new();
        assert_eq!(echo(&args(&["a", "b  c", "\\n"]), &mut out).unwrap(), 0);
        assert_eq!(out, b"a b  c \\n\n");
        let mut out = Vec::new();
        echo(&args(&["-n", "-n", "x", "-n"]), &mut out).unwrap();
        assert_eq!(out, b"x -n");
        let mut out = Vec::new();
        echo(&[], &mut out).unwrap();
        assert_eq!(out, b"\n");
    }

    #[test]
    fn pwd_prints_the_current_directory() {
        let _guard = CWD.lock().unwrap_or_else(|e| e.into_inner());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(pwd(&[], &mut out, &mut err).unwrap(), 0);
        let expected = format!("{}\n", std::env::current_dir().unwrap().display());
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(pwd(&args(&["x"]), &mut Vec::new(), &mut err).unwrap(), 1);
        assert_eq!(err, b"pwd: too many arguments\n");
    }

    #[test]
    fn exit_statuses() {
        let mut err = Vec::new();
        assert_eq!(exit(&[], 7, &mut err), Outcome::Exit(7));
        assert_eq!(exit(&args(&["3"]), 7, &mut err), Outcome::Exit(3));
        assert_eq!(exit(&args(&["256"]), 7, &mut err), Outcome::Exit(0));
        assert_eq!(exit(&args(&["-1"]), 7, &mut err), Outcome::Exit(255));
        assert!(err.is_empty());
        assert_eq!(exit(&args(&["x"]), 7, &mut err), Outcome::Status(2));
        assert_eq!(err, b"exit: x: numeric argument required\n");
        let mut err = Vec::new();
        assert_eq!(exit(&args(&["1", "2"]), 7, &mut err), Outcome::Status(1));
        assert_eq!(err, b"exit: too many arguments\n");
    }

    #[test]
    fn help_names_every_builtin() {
        let mut out = Vec::new();
        assert_eq!(help(&mut out).unwrap(), 0);
        let text = String::from_utf8(out).unwrap();
        for name in NAMES {
            assert!(text.contains(&format!("\n  {name}")), "{name} missing");
        }
    }

    #[test]
    fn run_builtin_dispatches_and_declines_programs() {
        let mut vars = Vars::default();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let argv = args(&["echo", "hi"]);
        assert_eq!(
            run_builtin(&argv, &mut vars, 0, &mut out, &mut err),
            Some(Outcome::Status(0))
        );
        assert_eq!(out, b"hi\n");
        assert_eq!(
            run_builtin(&args(&["exit", "4"]), &mut vars, 0, &mut out, &mut err),
            Some(Outcome::Exit(4))
        );
        assert_eq!(
            run_builtin(&args(&["true"]), &mut vars, 0, &mut out, &mut err),
            None
        );
    }

    #[test]
    fn completion_of_builtin_names() {
        assert_eq!(
            names_starting_with("e").collect::<Vec<_>>(),
            ["echo", "exit"]
        );
        assert_eq!(names_starting_with("").count(), NAMES.len());
        assert_eq!(names_starting_with("x").count(), 0);
    }

    #[test]
    fn error_messages_drop_the_os_error_suffix() {
        let e = fs::metadata("/definitely/not/here").unwrap_err();
        assert_eq!(error_message(&e), "No such file or directory");
    }
}
