//! Property tests of the language: [`crate::parse`] and [`crate::expand`] on
//! generated input (bounded: a few hundred cases each, well under a second).
//! Any input parses or fails with one short line, never a panic; quoted words
//! come back exactly; patterns match what they should.

use crate::expand::{self, Lookup};
use crate::parse::{self, Part};
use proptest::prelude::*;

struct Env;

impl Lookup for Env {
    fn var(&self, name: &str) -> Option<String> {
        (name != "UNSET").then(|| format!("<{name}>"))
    }
    fn status(&self) -> i32 {
        7
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made mostly of the characters the shell gives a meaning to.
fn shellish() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just(" "),
        Just("\t"),
        Just("\n"),
        Just(";"),
        Just("|"),
        Just("||"),
        Just("&"),
        Just("&&"),
        Just("<"),
        Just(">"),
        Just(">>"),
        Just("2>"),
        Just("2>&1"),
        Just(">&"),
        Just("'"),
        Just("\""),
        Just("\\"),
        Just("$"),
        Just("${"),
        Just("}"),
        Just("$?"),
        Just("$("),
        Just("`"),
        Just("("),
        Just(")"),
        Just("#"),
        Just("="),
        Just("*"),
        Just("?"),
        Just("["),
        Just("]"),
        Just("!"),
        Just("~"),
        Just("/"),
        Just("if"),
        Just("X"),
        Just("a"),
        Just("0"),
        Just("é"),
        Just("\u{0}"),
        Just("\u{1b}"),
    ];
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

/// Quotes `word` for the shell: single quotes, `'` as `'\''`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_line_parses_or_fails_with_one_short_line(line in shellish()) {
        match parse::parse_line(&line) {
            Ok(lists) => {
                for list in &lists {
                    for pipeline in std::iter::once(&list.first).chain(list.rest.iter().map(|(_, p)| p)) {
                        prop_assert!(!pipeline.is_empty());
                        for command in pipeline {
                            // Expanding any parsed command works too.
                            let _ = expand::expand_words(&command.words, &Env);
                        }
                    }
                }
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.contains('\n'), "{text:?}");
                prop_assert!(text.len() < 120, "{text:?}");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(line in any::<String>()) {
        if let Ok(lists) = parse::parse_line(&line) {
            for list in lists {
                for command in list.first {
                    let _ = expand::expand_words(&command.words, &Env);
                }
            }
        }
    }

    #[test]
    fn single_quoted_words_come_back_exactly(words in prop::collection::vec(any::<String>(), 1..6)) {
        let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
        let lists = parse::parse_line(&line.join(" ")).unwrap();
        prop_assert_eq!(lists.len(), 1);
        prop_assert_eq!(lists[0].first.len(), 1);
        let command = &lists[0].first[0];
        prop_assert!(command.assignments.is_empty() && command.redirects.is_empty());
        prop_assert_eq!(expand::expand_words(&command.words, &Env), words);
    }

    #[test]
    fn pipes_and_lists_split_where_the_operators_are(
        // `x...`: never a reserved word such as `in` or `do`.
        names in prop::collection::vec("x[a-z]{0,7}", 1..6),
        ops in prop::collection::vec(prop_oneof![Just("|"), Just("&&"), Just("||"), Just(";")], 5),
    ) {
        let mut line = names[0].clone();
        for (name, op) in names[1..].iter().zip(&ops) {
            line.push_str(&format!(" {op} {name}"));
        }
        let lists = parse::parse_line(&line).unwrap();
        let mut seen = Vec::new();
        for list in &lists {
            for pipeline in std::iter::once(&list.first).chain(list.rest.iter().map(|(_, p)| p)) {
                for command in pipeline {
                    prop_assert_eq!(command.words.len(), 1);
                    seen.push(expand::expand_text(&command.words[0], &Env));
                }
            }
        }
        prop_assert_eq!(seen, names.clone());
        let semicolons = ops[..names.len() - 1].iter().filter(|op| **op == ";").count();
        prop_assert_eq!(lists.len(), semicolons + 1);
    }

    #[test]
    fn variables_expand_inside_words(prefix in "[a-z]{0,5}", name in "[A-Z_][A-Z0-9_]{0,6}") {
        let lists = parse::parse_line(&format!("{prefix}${{{name}}}x")).unwrap();
        let word = &lists[0].first[0].words[0];
        prop_assert!(word.parts.contains(&Part::Var(name.clone())));
        let expected = if name == "UNSET" { format!("{prefix}x") } else { format!("{prefix}<{name}>x") };
        prop_assert_eq!(expand::expand_text(word, &Env), expected);
    }

    #[test]
    fn a_pattern_without_glob_characters_matches_only_itself(name in "\\PC{0,12}", other in "\\PC{0,12}") {
        let pattern: Vec<(char, bool)> = name.chars().map(|c| (c, false)).collect();
        prop_assert!(expand::matches(&pattern, &name));
        prop_assert_eq!(expand::matches(&pattern, &other), name == other);
    }

    #[test]
    fn stars_and_question_marks_match_what_they_replace(
        name in "\\PC{1,16}",
        mask in prop::collection::vec(0u8..4, 16),
    ) {
        // Replace some characters by `?`, some runs by `*`: the name still matches.
        let mut pattern = Vec::new();
        for (c, m) in name.chars().zip(mask.iter().cycle()) {
            match m {
                0 => pattern.push(('?', true)),
                1 => {
                    if pattern.last() != Some(&('*', true)) {
                        pattern.push(('*', true));
                    }
                }
                _ => pattern.push((c, false)),
            }
        }
        prop_assert!(expand::matches(&pattern, &name), "{pattern:?} {name:?}");
        prop_assert!(expand::matches(&[('*', true)], &name));
        // One more `?` than there are characters never matches.
        let too_long: Vec<(char, bool)> = name.chars().map(|_| ('?', true)).chain([('?', true)]).collect();
        prop_assert!(!expand::matches(&too_long, &name));
    }
}
