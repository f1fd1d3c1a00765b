//! The builtin commands: `cat`, `cd`, `echo`, `env`, `exit`, `export`, `false`,
//! `help`, `ls`, `pwd`, `true`, `type`, `unset`.
//!
//! In the article's image the shell is the only file, so `ls` and `cat` cannot be
//! programs on `PATH`: they have to live inside the shell. Every builtin reads
//! `input`, writes its output to `out` and its errors to `err`, one line each,
//! shaped `NAME: SUBJECT: reason` (`ls: /nope: No such file or directory`), and
//! returns an exit status instead of stopping the shell. Only `exit` ends the
//! shell, through [`Outcome::Exit`]. A subject from the user is shown through
//! [`shown`]: a short prefix, control characters replaced.

use crate::shell::Vars;
use crate::spawn::Fd;
use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The names of the builtins, sorted, for `help`, `type` and Tab completion.
pub const NAMES: [&str; 13] = [
    "cat", "cd", "echo", "env", "exit", "export", "false", "help", "ls", "pwd", "true", "type",
    "unset",
];

/// What running a builtin asks of the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Carry on; the command ended with this status.
    Status(i32),
    /// Stop the shell with this status (`exit`).
    Exit(i32),
}

/// A builtin's standard streams.
pub struct Io<'a> {
    /// Descriptor 0, for `cat` without a file (a descriptor: one reader type in
    /// the binary).
    pub input: Fd,
    /// Descriptor 1.
    pub out: &'a mut dyn Write,
    /// Descriptor 2.
    pub err: &'a mut dyn Write,
    /// The terminal's width when `out` is a terminal: `ls` then lays names out in
    /// columns and escapes control characters.
    pub width: Option<usize>,
}

/// The builtin names that start with `prefix`, for Tab completion of a command name.
pub fn names_starting_with(prefix: &str) -> impl Iterator<Item = &'static str> + '_ {
    NAMES.into_iter().filter(move |n| n.starts_with(prefix))
}

/// Whether `name` is a builtin.
pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Runs `argv` if `argv[0]` names a builtin; `None` when it does not.
///
/// `vars` is the shell's variables (`cd` reads `HOME`, `OLDPWD` and sets `PWD`,
/// `OLDPWD`; `export`, `unset` change them), `last_status` the status `exit` uses
/// without an argument.
pub fn run_builtin(
    argv: &[String],
    vars: &mut Vars,
    last_status: i32,
    io: &mut Io<'_>,
) -> Option<Outcome> {
    let (name, args) = argv.split_first()?;
    let (out, err) = (&mut *io.out, &mut *io.err);
    let result = match name.as_str() {
        "ls" => ls(args, io.width, out, err),
        "cat" => cat(args, io.input, out, err),
        "cd" => cd(args, vars, out, err),
        "echo" => echo(args, out),
        "env" => env(args, vars, out, err),
        "export" => export(args, vars, out, err),
        "unset" => unset(args, vars, err),
        "type" => type_of(args, vars, out, err),
        "true" => Ok(0),
        "false" => Ok(1),
        "pwd" => pwd(args, out, err),
        "help" => help(args, out, err),
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

/// Text from the user as an error message shows it: at most 64 characters (then
/// `...`), each control character as `?`, so that a bad word of a megabyte, or
/// one holding escape sequences, stays one short line.
pub fn shown(text: &str) -> String {
    let mut short = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == 64 {
            short.push_str("...");
            break;
        }
        short.push(printable(c));
    }
    short
}

/// `c`, or `?` when it is a control character.
fn printable(c: char) -> char {
    if c.is_control() { '?' } else { c }
}

/// Writes the one-line error `CMD: SUBJECT: reason` to `err`.
fn report(err: &mut dyn Write, cmd: &str, subject: &OsStr, e: &io::Error) {
    let line = format!(
        "{cmd}: {}: {}\n",
        shown(&subject.to_string_lossy()),
        error_message(e)
    );
    // Nowhere left to report a failure to write to stderr.
    let _ = err.write_all(line.as_bytes());
}

/// `name` as `ls` writes it: raw bytes, or on a terminal (`tty`) with every
/// control character and invalid byte as `?`, as GNU `ls` does.
fn ls_name(name: &OsStr, tty: bool) -> Vec<u8> {
    if tty {
        name.to_string_lossy()
            .chars()
            .map(|c| {
                if c == char::REPLACEMENT_CHARACTER {
                    '?'
                } else {
                    printable(c)
                }
            })
            .collect::<String>()
            .into_bytes()
    } else {
        name.as_bytes().to_vec()
    }
}

/// `ls [-a] [-l] [PATH...]`: list directories, or name files.
///
/// Names are sorted bytewise; names starting with `.` are hidden unless `-a`.
/// When `width` is given (stdout is a terminal that wide), names are laid out in
/// columns down then across, as GNU `ls` does, with control characters shown as
/// `?`; otherwise they are written as they are, on one line separated by single
/// spaces (`bin dev etc proc sys`). `-l` prints one entry per line: type and
/// permission bits, size, name, and `-> target` for a symlink (a symlink given as
/// an argument is then shown itself, not followed). Several paths each get a
/// `PATH:` header. A path that cannot be read is reported and skipped; the status
/// is then 1 (2 for a bad option).
pub fn ls(
    args: &[String],
    width: Option<usize>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let tty = width.is_some();
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
                        // `--all` is named whole, `-x` (or `-lx`) by its letter.
                        let option = if arg.starts_with("--") {
                            shown(arg)
                        } else {
                            format!("-{}", printable(c))
                        };
                        writeln!(
                            err,
                            "ls: {option}: unknown option (usage: ls [-a] [-l] [PATH...])"
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
            out.write_all(&ls_name(path.as_os_str(), tty))?;
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
                write_long(&[entry], tty, out)?;
            } else {
                out.write_all(&ls_name(&entry.name, tty))?;
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
            for name in entries {
                let path = path.join(&name);
                match fs::symlink_metadata(&path) {
                    Ok(meta) => with_meta.push(Entry { name, path, meta }),
                    Err(e) => {
                        report(err, "ls", path.as_os_str(), &e);
                        status = 1;
                    }
                }
            }
            write_long(&with_meta, tty, out)?;
        } else {
            let names: Vec<Vec<u8>> = entries.iter().map(|n| ls_name(n, tty)).collect();
            out.write_all(&columns(&names, width.unwrap_or(0)))?;
        }
    }
    Ok(status)
}

/// `names` laid out for a terminal `width` columns wide, as GNU `ls` does: in
/// columns filled top to bottom, then left to right, two spaces apart, as many
/// columns as fit. Width 0 means no terminal: one line, single spaces.
pub fn columns(names: &[Vec<u8>], width: usize) -> Vec<u8> {
    let mut text = Vec::new();
    if names.is_empty() {
        return text;
    }
    if width == 0 {
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(name);
        }
        text.push(b'\n');
        return text;
    }
    // Terminal names are printable: one column per character.
    let widths: Vec<usize> = names
        .iter()
        .map(|n| n.iter().filter(|&&b| b & 0xc0 != 0x80).count())
        .collect();
    // The fewest rows whose columns fit the width (one column always does).
    let mut rows = 1;
    let col_widths = loop {
        let col_widths: Vec<usize> = widths
            .chunks(rows)
            .map(|column| column.iter().copied().max().unwrap_or(0))
            .collect();
        let total: usize = col_widths.iter().map(|w| w + 2).sum::<usize>() - 2;
        if total <= width || rows >= names.len() {
            break col_widths;
        }
        rows += 1;
    };
    for row in 0..rows {
        let mut col = 0;
        while let Some(name) = names.get(col * rows + row) {
            text.extend_from_slice(name);
            if col * rows + row + rows < names.len() {
                let pad = col_widths[col] + 2 - widths[col * rows + row];
                text.resize(text.len() + pad, b' ');
            }
            col += 1;
        }
        text.push(b'\n');
    }
    text
}

/// One thing `ls -l` prints a line for.
struct Entry {
    name: OsString,
    path: PathBuf,
    meta: Metadata,
}

/// The names and paths in directory `dir`, sorted bytewise, dot-names only if `all`.
fn read_entries(dir: &Path, all: bool) -> io::Result<Vec<OsString>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if all || !name.as_bytes().starts_with(b".") {
            entries.push(name);
        }
    }
    sort_names(&mut entries);
    Ok(entries)
}

/// Sorts names bytewise, for `ls` and globbing (one sort in the binary).
pub fn sort_names(names: &mut [OsString]) {
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
}

/// `drwxr-xr-x  4096 name`, sizes right-aligned to the widest, `-> target` for
/// links; names escaped on a terminal (`tty`).
fn write_long(entries: &[Entry], tty: bool, out: &mut dyn Write) -> io::Result<()> {
    let width = entries
        .iter()
        .map(|e| e.meta.len().to_string().len())
        .max()
        .unwrap_or(0);
    let mut text = Vec::new();
    for e in entries {
        write!(text, "{} {:>width$} ", mode_string(&e.meta), e.meta.len())?;
        text.extend_from_slice(&ls_name(&e.name, tty));
        if e.meta.file_type().is_symlink()
            && let Ok(target) = fs::read_link(&e.path)
        {
            text.extend_from_slice(b" -> ");
            text.extend_from_slice(&ls_name(target.as_os_str(), tty));
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
                let _ = writeln!(err, "exit: {}: numeric argument required", shown(n));
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
  cat [FILE...]            print files (none or -: the input)
  cd [DIR | -]             change directory (no DIR: $HOME; -: the previous one)
  echo [-n] [ARG...]       print the arguments (-n: no newline)
  env                      print the environment programs get
  exit [N]                 leave with status N (default, as Ctrl-D: the last status)
  export NAME[=VALUE]...   pass variables to programs (alone: as env)
  false                    status 1
  help [ls]                this text; help ls: how ls writes names
  ls [-a] [-l] [PATH...]   list directory entries (-a: dot-names too, -l: long)
  pwd                      print the current directory
  true                     status 0
  type NAME...             say if NAME is a builtin or which program it runs
  unset NAME...            remove variables
Other commands run as programs found on PATH.
Syntax: 'quotes' \"quotes\" \\ $VAR ${VAR} $? ~ * ? [...] | && || ; < > >> 2> 2>&1 >&2
  NAME=value [COMMAND], # comments.
Not supported (refused): & jobs, $(...) `...`, << here-documents, ( ) subshells,
  functions, if for while until case { } !, field splitting.
";

/// The text `help ls` prints.
pub const HELP_LS: &str = "\
ls [-a] [-l] [PATH...]: list directory entries, sorted bytewise.
  -a  names starting with . too
  -l  one entry a line: type and permissions, size, name, -> link target
On a terminal: names in columns that fit its width (down, then across, as
GNU ls), control characters shown as ?. Otherwise (a pipe, a file): names as
they are, on one line separated by single spaces: `ls /` prints
`bin dev etc proc sys`.
";

/// `help [ls]`: the builtins and the syntax, in a few lines; or `ls` in detail.
pub fn help(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    let text = match args {
        [] => HELP,
        [ls] if ls == "ls" => HELP_LS,
        [other, ..] => {
            writeln!(err, "help: {}: no details (type help)", shown(other))?;
            return Ok(1);
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(0)
}

/// Set by the binary's SIGINT handler (Ctrl-C on the terminal). A builtin reading the
/// terminal checks it between reads, so a Ctrl-C that lands just outside `read` (where it
/// interrupts nothing) still stops it.
pub static CTRL_C: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How long `cat` waits for input before it looks at [`CTRL_C`] again.
const CTRL_C_POLL_MS: libc::c_int = 200;

/// Waits until `fd` has input (or an end or an error for `read` to report), at most
/// [`CTRL_C_POLL_MS`]; false when nothing came.
fn wait_readable(fd: Fd) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, its count 1.
    match unsafe { libc::poll(&mut p, 1, CTRL_C_POLL_MS) } {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// `cat [FILE...]`: copies each file, or the input for `-` or no file, to `out`.
/// A file that cannot be read is reported and skipped; the status is then 1. Ctrl-C
/// (an interrupted read or wait, or [`CTRL_C`] set) stops it with status 130.
pub fn cat(
    args: &[String],
    input: Fd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    use std::sync::atomic::Ordering;
    let mut status = 0;
    let stdin = ["-".to_string()];
    let mut buf = vec![0; 1 << 16];
    CTRL_C.store(false, Ordering::SeqCst);
    for name in if args.is_empty() { &stdin[..] } else { args } {
        // Files are read through their descriptor: one reader type in the binary.
        let file;
        let mut fd = input;
        if name.starts_with('-') && name != "-" {
            writeln!(
                err,
                "cat: {}: unknown option (usage: cat [FILE...])",
                shown(name)
            )?;
            return Ok(2);
        } else if name != "-" {
            match fs::File::open(name) {
                Ok(f) => {
                    file = f;
                    fd = Fd(file.as_raw_fd());
                }
                Err(e) => {
                    report(err, "cat", name.as_ref(), &e);
                    status = 1;
                    continue;
                }
            }
        }
        loop {
            if CTRL_C.swap(false, Ordering::SeqCst) {
                return Ok(130);
            }
            match wait_readable(fd) {
                Ok(false) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(130),
                _ => {}
            }
            match fd.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.write_all(&buf[..n])?,
                // Ctrl-C on a terminal the shell reads (see the binary's REPL).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(130),
                Err(e) => {
                    report(err, "cat", name.as_ref(), &e);
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}

/// `env`: the environment programs get, one `NAME=value` a line.
pub fn env(
    args: &[String],
    vars: &Vars,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    if !args.is_empty() {
        writeln!(
            err,
            "env: arguments are not supported (use NAME=value COMMAND)"
        )?;
        return Ok(2);
    }
    let mut text = Vec::new();
    for line in vars.environment() {
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    out.write_all(&text)?;
    Ok(0)
}

/// Reports `word` as not a variable name; status 1.
fn bad_name(cmd: &str, word: &str, err: &mut dyn Write) -> io::Result<i32> {
    writeln!(err, "{cmd}: {}: not a valid name", shown(word))?;
    Ok(1)
}

/// `export [NAME[=VALUE]...]`: marks variables for programs, setting them if a
/// value is given; alone, prints the environment programs get, as `env` does.
pub fn export(
    args: &[String],
    vars: &mut Vars,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    if args.is_empty() {
        return env(args, vars, out, err);
    }
    let mut status = 0;
    for arg in args {
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        };
        if crate::parse::is_name(name) {
            vars.export(name, value);
        } else {
            status = bad_name("export", arg, err)?;
        }
    }
    Ok(status)
}

/// `unset NAME...`: removes variables, for programs too.
pub fn unset(args: &[String], vars: &mut Vars, err: &mut dyn Write) -> io::Result<i32> {
    let mut status = 0;
    for name in args {
        if crate::parse::is_name(name) {
            vars.unset(name);
        } else {
            status = bad_name("unset", name, err)?;
        }
    }
    Ok(status)
}

/// The program `name` runs: itself if it holds a `/`, else the first executable
/// file of that name in the directories of `PATH`.
pub fn find_program(name: &str, vars: &Vars) -> Option<String> {
    let executable =
        |path: &str| fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0);
    if name.contains('/') {
        return executable(name).then(|| name.to_string());
    }
    let path = vars.get("PATH").unwrap_or_default();
    path.split(':').find_map(|dir| {
        let mut candidate = String::from(if dir.is_empty() { "." } else { dir });
        candidate.push('/');
        candidate.push_str(name);
        executable(&candidate).then_some(candidate)
    })
}

/// `type NAME...`: whether each name is a builtin or which program it runs;
/// status 1 when one is neither.
pub fn type_of(
    args: &[String],
    vars: &Vars,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let mut status = 0;
    for name in args {
        if is_builtin(name) {
            writeln!(out, "{name} is a shell builtin")?;
        } else if let Some(path) = find_program(name, vars) {
            writeln!(out, "{name} is {path}")?;
        } else {
            writeln!(err, "type: {}: not found", shown(name))?;
            status = 1;
        }
    }
    Ok(status)
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
        let status = ls(&args(argv), None, &mut out, &mut err).unwrap();
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
    fn ls_unknown_option_is_named_as_typed() {
        let (status, out, err) = run_ls(&["-x"]);
        assert_eq!((status, out.as_str()), (2, ""));
        assert!(err.starts_with("ls: -x: unknown option"), "{err}");
        let (status, _, err) = run_ls(&["--all"]);
        assert_eq!(status, 2);
        assert!(err.starts_with("ls: --all: unknown option"), "{err}");
        assert!(run_ls(&["-lq"]).2.starts_with("ls: -q: unknown option"));
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
    fn help_names_every_builtin_once_and_what_is_not_supported() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(help(&[], &mut out, &mut err).unwrap(), 0);
        let text = String::from_utf8(out).unwrap();
        for name in NAMES {
            let lines = text
                .lines()
                .filter(|l| l.starts_with(&format!("  {name} ")));
            assert_eq!(lines.count(), 1, "{name}");
        }
        for unsupported in ["&", "$(...)", "<<", "if", "for", "while", "functions"] {
            let not_supported = text.split("Not supported").nth(1).unwrap();
            assert!(not_supported.contains(unsupported), "{unsupported}");
        }
        let mut out = Vec::new();
        assert_eq!(help(&args(&["ls"]), &mut out, &mut err).unwrap(), 0);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("On a terminal: names in columns that fit its width"));
        assert!(text.contains("`ls /` prints\n`bin dev etc proc sys`"));
        assert_eq!(
            help(&args(&["nope"]), &mut Vec::new(), &mut err).unwrap(),
            1
        );
    }

    /// Runs a builtin with `input` as its input; (outcome, stdout, stderr).
    fn builtin(argv: &[&str], vars: &mut Vars, input: &[u8]) -> (Option<Outcome>, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(input).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let mut io = Io {
            input: Fd(file.as_raw_fd()),
            out: &mut out,
            err: &mut err,
            width: None,
        };
        let outcome = run_builtin(&args(argv), vars, 3, &mut io);
        (
            outcome,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn run_builtin_dispatches_and_declines_programs() {
        let mut vars = Vars::default();
        let status = |s| Some(Outcome::Status(s));
        assert_eq!(
            builtin(&["echo", "hi"], &mut vars, b""),
            (status(0), "hi\n".into(), "".into())
        );
        assert_eq!(
            builtin(&["exit", "4"], &mut vars, b"").0,
            Some(Outcome::Exit(4))
        );
        assert_eq!(builtin(&["exit"], &mut vars, b"").0, Some(Outcome::Exit(3)));
        assert_eq!(builtin(&["true"], &mut vars, b"").0, status(0));
        assert_eq!(builtin(&["false"], &mut vars, b"").0, status(1));
        assert_eq!(builtin(&["sh"], &mut vars, b"").0, None);
        assert!(NAMES.iter().all(|n| is_builtin(n)));
        assert!(!is_builtin("sh"));
    }

    #[test]
    fn cat_copies_files_and_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, "one\n").unwrap();
        let a = a.to_str().unwrap();
        let mut vars = Vars::default();
        let status = |s| Some(Outcome::Status(s));
        assert_eq!(
            builtin(&["cat", a, "-", a], &mut vars, b"in\n"),
            (status(0), "one\nin\none\n".into(), "".into())
        );
        assert_eq!(
            builtin(&["cat"], &mut vars, b"piped"),
            (status(0), "piped".into(), "".into())
        );
        let missing = format!("{a}-nope");
        assert_eq!(
            builtin(&["cat", &missing, a], &mut vars, b""),
            (
                status(1),
                "one\n".into(),
                format!("cat: {missing}: No such file or directory\n")
            )
        );
        let d = dir.path().to_str().unwrap();
        assert_eq!(
            builtin(&["cat", d], &mut vars, b"").2,
            format!("cat: {d}: Is a directory\n")
        );
        assert_eq!(builtin(&["cat", "-n"], &mut vars, b"").0, status(2));
    }

    #[test]
    fn export_unset_env_and_type() {
        let mut vars = Vars::default();
        vars.set("PENGUIN_LOCAL", "1");
        builtin(
            &["export", "PENGUIN_EXPORTED=tux", "PENGUIN_LATER"],
            &mut vars,
            b"",
        );
        let (_, env_out, _) = builtin(&["env"], &mut vars, b"");
        assert!(
            env_out.lines().any(|l| l == "PENGUIN_EXPORTED=tux"),
            "{env_out}"
        );
        assert!(env_out.lines().any(|l| l == "PENGUIN_LATER="), "{env_out}");
        assert!(!env_out.contains("PENGUIN_LOCAL"), "{env_out}");
        assert!(env_out.lines().any(|l| l.starts_with("PATH=")));
        builtin(&["export", "PENGUIN_LOCAL"], &mut vars, b"");
        assert!(
            builtin(&["env"], &mut vars, b"")
                .1
                .contains("PENGUIN_LOCAL=1\n")
        );
        builtin(&["unset", "PENGUIN_LOCAL", "PATH"], &mut vars, b"");
        let env_out = builtin(&["env"], &mut vars, b"").1;
        assert!(!env_out.contains("PENGUIN_LOCAL"), "{env_out}");
        assert!(
            !env_out.lines().any(|l| l.starts_with("PATH=")),
            "{env_out}"
        );
        assert_eq!(vars.get("PATH"), None);
        let (outcome, _, err) = builtin(&["export", "1x=2"], &mut vars, b"");
        assert_eq!(
            (outcome, err.as_str()),
            (Some(Outcome::Status(1)), "export: 1x=2: not a valid name\n")
        );
        assert_eq!(
            builtin(&["env", "x"], &mut vars, b"").0,
            Some(Outcome::Status(2))
        );

        let mut vars = Vars::default();
        vars.set("PATH", "/nope:/bin:/usr/bin");
        let (outcome, out, err) =
            builtin(&["type", "cat", "sh", "no-such-penguin"], &mut vars, b"");
        assert_eq!(outcome, Some(Outcome::Status(1)));
        assert!(out.starts_with("cat is a shell builtin\nsh is /"), "{out}");
        assert!(out.ends_with("/sh\n"), "{out}");
        assert_eq!(err, "type: no-such-penguin: not found\n");
        assert_eq!(
            builtin(&["type", "/bin/sh"], &mut vars, b"").1,
            "/bin/sh is /bin/sh\n"
        );
    }

    #[test]
    fn ls_on_a_terminal_lays_out_columns_like_gnu_ls() {
        let names: Vec<Vec<u8>> = ["bin", "dev", "etc", "proc", "sys"]
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect();
        assert_eq!(columns(&names, 0), b"bin dev etc proc sys\n");
        assert_eq!(columns(&names, 80), b"bin  dev  etc  proc  sys\n");
        // 16 columns hold three columns of two rows: down, then across, each as
        // wide as its widest name.
        assert_eq!(columns(&names, 16), b"bin  etc   sys\ndev  proc\n");
        assert_eq!(columns(&names, 3), b"bin\ndev\netc\nproc\nsys\n");
        assert_eq!(columns(&[], 80), b"");
        let long: Vec<Vec<u8>> = (0..30)
            .map(|i| format!("file-{i:02}").into_bytes())
            .collect();
        let text = String::from_utf8(columns(&long, 40)).unwrap();
        assert!(text.lines().all(|l| l.len() <= 40), "{text}");
        assert_eq!(
            text.lines().next(),
            Some("file-00  file-08  file-16  file-24")
        );
        assert_eq!(text.lines().count(), 8);
    }

    #[test]
    fn ls_escapes_control_characters_only_on_a_terminal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("evil\x1b[2Jname\n"), "").unwrap();
        fs::write(dir.path().join("ok"), "").unwrap();
        let d = p(&dir);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        ls(&args(&[&d]), Some(80), &mut out, &mut err).unwrap();
        assert_eq!(out, b"evil?[2Jname?  ok\n");
        let mut out = Vec::new();
        ls(&args(&["-l", &d]), Some(80), &mut out, &mut err).unwrap();
        assert!(!out.contains(&0x1b), "{out:?}");
        let (_, out, _) = run_ls(&[&d]);
        assert_eq!(out, "evil\x1b[2Jname\n ok\n");
    }

    #[test]
    fn errors_show_a_short_escaped_prefix() {
        assert_eq!(shown("plain"), "plain");
        assert_eq!(shown("a\x1b[2J\n\0b"), "a?[2J??b");
        let long = "x".repeat(1 << 20);
        assert_eq!(shown(&long), format!("{}...", "x".repeat(64)));
        let nul = "\0".repeat(100);
        let (_, _, err) = run_ls(&[&nul]);
        assert!(err.len() < 120, "{err}");
        assert!(!err.contains('\0'));
    }

    #[test]
    fn completion_of_builtin_names() {
        assert_eq!(
            names_starting_with("e").collect::<Vec<_>>(),
            ["echo", "env", "exit", "export"]
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
