//! Expand parsed words into the argument strings a command receives.
//!
//! `$NAME` and `${NAME}` become the variable's value (empty when unset), `$?` the
//! last exit status. There is no field splitting and no globbing: one word stays
//! one argument, whatever its value holds. An unquoted word that expands to
//! nothing is dropped (`ls $UNSET` is `ls`), a quoted one stays as an empty
//! argument (`echo "$UNSET"`).

use crate::parse::{Command, Part, Word};

/// Where expansion looks up its values.
pub trait Lookup {
    /// The value of variable `name`, or `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
    /// The exit status of the last command, for `$?`.
    fn status(&self) -> i32;
}

/// Expands one word; `None` when an unquoted word expands to nothing.
pub fn expand_word(word: &Word, env: &dyn Lookup) -> Option<String> {
    let mut out = String::new();
    for part in &word.parts {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Var(name) => out.push_str(&env.var(name).unwrap_or_default()),
            Part::Status => out.push_str(&env.status().to_string()),
        }
    }
    (word.quoted || !out.is_empty()).then_some(out)
}

/// Expands every word of a command into its argument vector.
pub fn expand_command(command: &Command, env: &dyn Lookup) -> Vec<String> {
    command.iter().filter_map(|w| expand_word(w, env)).collect()
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

    fn expand(line: &str) -> Vec<Vec<String>> {
        let env = Fake(
            BTreeMap::from([("HOME", "/root"), ("SPACED", "a  b"), ("EMPTY", "")]),
            3,
        );
        parse_line(line)
            .unwrap()
            .iter()
            .map(|c| expand_command(c, &env))
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
    fn values_are_not_split() {
        assert_eq!(expand("echo $SPACED"), [["echo", "a  b"]]);
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
}
