//! Expand parsed words into the argument strings a command receives.
//!
//! `$NAME` and `${NAME}` become the variable's value (empty when unset), `$?` the
//! last exit status, `~` at the start of a word `$HOME`. There is no field
//! splitting: a variable's value stays within its word, whatever it holds. An
//! unquoted word that expands to nothing is dropped (`ls $UNSET` is `ls`), a
//! quoted one stays as an empty argument (`echo "$UNSET"`).
//!
//! A word with an unquoted `*`, `?` or `[...]` is a pattern ([`glob`]): it becomes
//! the paths that match it, sorted bytewise, or stays as typed when none does
//! (POSIX). Names starting with `.` match only a pattern that starts with `.`.
//! Characters from quotes and from variables' values are never pattern characters.

use crate::builtins::sort_names;
use crate::parse::{Part, Word};
use std::ffi::OsString;
use std::fs;

/// Where expansion looks up its values.
pub trait Lookup {
    /// The value of variable `name`, or `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
    /// The exit status of the last command, for `$?`.
    fn status(&self) -> i32;
}

/// A pattern: each character, and whether it is a glob character (`*`, `?`, `[`).
type Pattern = Vec<(char, bool)>;

/// Expands the parts of `word` into a pattern.
fn expand_parts(word: &Word, env: &dyn Lookup) -> Pattern {
    let mut out = Pattern::new();
    for part in &word.parts {
        let value;
        let text = match part {
            Part::Lit(s) => s,
            Part::Var(name) => {
                value = env.var(name).unwrap_or_default();
                &value
            }
            Part::Status => {
                value = env.status().to_string();
                &value
            }
            Part::Tilde => {
                value = env.var("HOME").unwrap_or_else(|| "~".into());
                &value
            }
            Part::Glob(c) => {
                out.push((*c, true));
                continue;
            }
        };
        out.extend(text.chars().map(|c| (c, false)));
    }
    out
}

/// Expands `word` to one string, without globbing: for assignments and file names
/// of redirections.
pub fn expand_text(word: &Word, env: &dyn Lookup) -> String {
    expand_parts(word, env)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// Expands `word` into the arguments it stands for: none (an unquoted word that
/// expands to nothing), one, or the sorted paths its pattern matches.
pub fn expand_word(word: &Word, env: &dyn Lookup, args: &mut Vec<String>) {
    let pattern = expand_parts(word, env);
    if pattern.iter().any(|&(_, glob)| glob) {
        let matches = glob(&pattern);
        if !matches.is_empty() {
            args.extend(matches);
            return;
        }
    }
    if word.quoted || !pattern.is_empty() {
        args.push(pattern.into_iter().map(|(c, _)| c).collect());
    }
}

/// Expands every word of a command into its argument vector.
pub fn expand_words(words: &[Word], env: &dyn Lookup) -> Vec<String> {
    let mut args = Vec::new();
    for word in words {
        expand_word(word, env, &mut args);
    }
    args
}

/// The paths matching `pattern`, sorted; each `/`-separated component with glob
/// characters is matched against the names in its directory.
pub fn glob(pattern: &[(char, bool)]) -> Vec<String> {
    let mut paths = vec![String::new()];
    for (i, component) in pattern.split(|&(c, _)| c == '/').enumerate() {
        if i > 0 {
            for path in &mut paths {
                path.push('/');
            }
        }
        if !component.iter().any(|&(_, glob)| glob) {
            for path in &mut paths {
                path.extend(component.iter().map(|&(c, _)| c));
            }
            continue;
        }
        let mut next = Vec::new();
        for path in &paths {
            let Ok(entries) = fs::read_dir(if path.is_empty() { "." } else { path }) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let dot_ok = component[0].0 == '.';
                if (dot_ok || !name.starts_with('.')) && matches(component, &name) {
                    next.push(path.clone() + &name);
                }
            }
        }
        paths = next;
    }
    // Literal components after the last pattern must exist.
    let mut found: Vec<OsString> = paths
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .map(OsString::from)
        .collect();
    sort_names(&mut found);
    found
        .into_iter()
        .map(|p| p.into_string().unwrap_or_default())
        .collect()
}

/// Whether `name` matches `pattern` as a whole (`*`, `?`, `[...]`).
pub fn matches(pattern: &[(char, bool)], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(('*', true)) => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(('?', true)) => Some(1),
            Some(('[', true)) => match bracket(&pattern[p + 1..], name[n]) {
                Some((hit, len)) => hit.then_some(len + 1),
                None => (name[n] == '[').then_some(1),
            },
            Some(&(c, _)) => (c == name[n]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                n += 1;
            }
            // Let the last `*` take one more character, and try again after it.
            (None, Some((sp, sn))) => {
                star = Some((sp, sn + 1));
                p = sp + 1;
                n = sn + 1;
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&x| x == ('*', true))
}

/// After a `[`: whether `c` is in the bracket expression (`[abc]`, `[a-z]`,
/// `[!x]`, `[^x]`) and how many pattern characters it takes up to its `]`;
/// `None` when there is no closing `]` (then `[` is an ordinary character).
fn bracket(pattern: &[(char, bool)], c: char) -> Option<(bool, usize)> {
    let negate = matches!(pattern.first(), Some(('!' | '^', _)));
    let start = usize::from(negate);
    let mut i = start;
    let mut hit = false;
    loop {
        let lo = pattern.get(i)?.0;
        if lo == ']' && i > start {
            return Some((hit != negate, i + 1));
        }
        match (pattern.get(i + 1), pattern.get(i + 2)) {
            (Some(('-', _)), Some(&(hi, _))) if hi != ']' => {
                hit |= lo <= c && c <= hi;
                i += 3;
            }
            _ => {
                hit |= lo == c;
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;
    use std::collections::BTreeMap;

    struct Fake(BTreeMap<&'static str, &'static str>, i32);

    impl Lookup for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
        fn status(&self) -> i32 {
            self.1
        }
    }

    fn fake() -> Fake {
        Fake(
            BTreeMap::from([
                ("HOME", "/root"),
                ("SPACED", "a  b"),
                ("EMPTY", ""),
                ("STAR", "*"),
            ]),
            3,
        )
    }

    fn expand(line: &str) -> Vec<Vec<String>> {
        let env = fake();
        let mut all = Vec::new();
        for list in parse_line(line).unwrap() {
            for cmd in list.first {
                all.push(expand_words(&cmd.words, &env));
            }
        }
        all
    }

    fn pattern(s: &str) -> Pattern {
        s.chars()
            .map(|c| (c, matches!(c, '*' | '?' | '[')))
            .collect()
    }

    #[test]
    fn variables_and_status() {
        assert_eq!(
            expand("echo $HOME ${HOME}/x $?x ${?}"),
            [["echo", "/root", "/root/x", "3x", "3"]]
        );
    }

    #[test]
    fn no_expansion_in_single_quotes_but_in_double_quotes() {
        assert_eq!(
            expand(r#"echo '$HOME' "$HOME" "\$HOME""#),
            [["echo", "$HOME", "/root", "$HOME"]]
        );
    }

    #[test]
    fn values_are_not_split_nor_globbed() {
        assert_eq!(expand("echo $SPACED $STAR"), [["echo", "a  b", "*"]]);
    }

    #[test]
    fn unquoted_empty_words_vanish_quoted_ones_stay() {
        assert_eq!(expand("echo $NOPE $EMPTY x"), [["echo", "x"]]);
        assert_eq!(expand(r#"echo "$NOPE" '' x"#), [["echo", "", "", "x"]]);
        assert_eq!(expand("$NOPE"), [Vec::<String>::new()]);
    }

    #[test]
    fn each_command_expands_on_its_own() {
        assert_eq!(
            expand("echo $HOME; echo $?"),
            vec![vec!["echo", "/root"], vec!["echo", "3"]]
        );
    }

    #[test]
    fn tilde_is_home() {
        assert_eq!(
            expand("echo ~ ~/x '~' a~"),
            [["echo", "/root", "/root/x", "~", "a~"]]
        );
        let list = parse_line("echo ~").unwrap();
        let nohome = Fake(BTreeMap::new(), 0);
        assert_eq!(
            expand_words(&list[0].first[0].words, &nohome),
            ["echo", "~"]
        );
    }

    #[test]
    fn text_expansion_does_not_glob() {
        let list = parse_line("X=*$HOME").unwrap();
        let word = &list[0].first[0].assignments[0].1;
        assert_eq!(expand_text(word, &fake()), "*/root");
    }

    #[test]
    fn pattern_matching() {
        for (p, name, expected) in [
            ("*", "anything", true),
            ("*", "", true),
            ("*.md", "README.md", true),
            ("*.md", "README.mdx", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("?", "é", true),
            ("??", "a", false),
            ("[abc]x", "bx", true),
            ("[abc]x", "dx", false),
            ("[a-c]", "b", true),
            ("[!a-c]", "b", false),
            ("[^a-c]", "d", true),
            ("[]]", "]", true),
            ("[a-]", "-", true),
            ("[", "[", true),
            ("a[", "a[", true),
            ("*[", "x[", true),
            ("**a", "ba", true),
            ("exact", "exact", true),
            ("exact", "exac", false),
        ] {
            assert_eq!(matches(&pattern(p), name), expected, "{p} {name}");
        }
        // A quoted `*` is an ordinary character.
        assert!(matches(&[('*', false)], "*"));
        assert!(!matches(&[('*', false)], "x"));
    }

    #[test]
    fn glob_lists_sorted_matches_or_keeps_the_word() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "b.md",
            "a.md",
            ".hidden.md",
            "c.txt",
            "sub/x.md",
            "sub/y.txt",
        ] {
            let path = d.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "").unwrap();
        }
        let base = d.to_str().unwrap();
        let glob_of = |p: &str| -> Vec<String> {
            glob(&pattern(&format!("{base}/{p}")))
                .into_iter()
                .map(|m| m[base.len() + 1..].to_string())
                .collect()
        };
        assert_eq!(glob_of("*.md"), ["a.md", "b.md"]);
        assert_eq!(glob_of(".*.md"), [".hidden.md"]);
        assert_eq!(glob_of("*/*.md"), ["sub/x.md"]);
        assert_eq!(glob_of("s?b/y.txt"), ["sub/y.txt"]);
        assert_eq!(glob_of("s?b/nope"), Vec::<String>::new());
        assert_eq!(glob_of("[ab].*"), ["a.md", "b.md"]);
        assert_eq!(glob_of("*"), ["a.md", "b.md", "c.txt", "sub"]);
        assert_eq!(glob_of("*.none"), Vec::<String>::new());

        // Through expansion: no match leaves the word as typed.
        let list = parse_line(&format!("echo {base}/*.none '{base}'/*.txt")).unwrap();
        let args = expand_words(&list[0].first[0].words, &fake());
        assert_eq!(
            args,
            [
                "echo".to_string(),
                format!("{base}/*.none"),
                format!("{base}/c.txt")
            ]
        );
    }
}
