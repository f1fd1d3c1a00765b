//! Parse one input line into commands and words, before any expansion.
//!
//! The grammar is a small subset of the POSIX shell's:
//!
//! - blanks (space, tab) separate words; `;` and newline separate commands (a
//!   pasted block of lines runs line after line);
//! - `#` at the start of a word starts a comment that runs to the end of the line;
//! - `'...'` keeps everything literally;
//! - `"..."` keeps everything literally except `$` expansions and the backslash
//!   escapes `\$`, `\"`, `\\` and `` \` ``;
//! - outside quotes, `\c` stands for the character `c` itself;
//! - `$NAME`, `${NAME}` and `$?` are recorded as [`Part::Var`] and [`Part::Status`]
//!   and replaced later by [`crate::expand`].
//!
//! Pipes and redirections are not part of the language: `|`, `<`, `>` and `&` are
//! ordinary characters.

use thiserror::Error;

/// One piece of a word: literal text or something to expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text taken as it is.
    Lit(String),
    /// `$NAME` or `${NAME}`: the value of a variable.
    Var(String),
    /// `$?`: the exit status of the last command.
    Status,
}

/// A word of a command: the parts it is glued from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// The parts in order; consecutive literal text is merged into one part.
    pub parts: Vec<Part>,
    /// Whether any quote appeared in the word. A quoted word survives expansion
    /// even when empty (`''`), an unquoted one that expands to nothing vanishes.
    pub quoted: bool,
}

/// A simple command: its words, the first one names the command.
pub type Command = Vec<Word>;

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A `'` without its closing `'`.
    #[error("syntax error: unterminated single quote")]
    UnterminatedSingleQuote,
    /// A `"` without its closing `"`.
    #[error("syntax error: unterminated double quote")]
    UnterminatedDoubleQuote,
    /// A `${` without its closing `}`.
    #[error("syntax error: missing }} after ${{")]
    UnterminatedBrace,
    /// `${...}` holding something that is not a variable name.
    #[error("${{{0}}}: bad substitution")]
    BadSubstitution(String),
}

impl Word {
    fn push_char(&mut self, c: char) {
        if let Some(Part::Lit(s)) = self.parts.last_mut() {
            s.push(c);
        } else {
            self.parts.push(Part::Lit(c.to_string()));
        }
    }
}

/// Whether `c` may start a variable name.
fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

/// Whether `c` may continue a variable name.
fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Whether `s` is a valid variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Splits `line` into commands (separated by `;` or newline) of words.
///
/// Empty commands (a blank line, `;;`, a line that is only a comment) are dropped,
/// so the result may be empty.
///
/// ```
/// use penguinshell::parse::{parse_line, Part};
/// let cmds = parse_line("echo 'a b' $HOME; pwd # where am I").unwrap();
/// assert_eq!(cmds.len(), 2);
/// assert_eq!(cmds[0][1].parts, vec![Part::Lit("a b".into())]);
/// assert_eq!(cmds[0][2].parts, vec![Part::Var("HOME".into())]);
/// ```
pub fn parse_line(line: &str) -> Result<Vec<Command>, ParseError> {
    let mut commands = Vec::new();
    let mut command: Command = Vec::new();
    let mut word: Option<Word> = None;
    let mut chars = line.chars().peekable();

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' => command.extend(word.take()),
            ';' | '\n' => {
                command.extend(word.take());
                if !command.is_empty() {
                    commands.push(std::mem::take(&mut command));
                }
            }
            '#' if word.is_none() => {
                // The comment runs to the end of the line, not of the input.
                while chars.next_if(|&c| c != '\n').is_some() {}
            }
            '\'' => {
                let w = word.get_or_insert_with(Word::default);
                w.quoted = true;
                single_quoted(&mut chars, w)?;
            }
            '"' => {
                let w = word.get_or_insert_with(Word::default);
                w.quoted = true;
                double_quoted(&mut chars, w)?;
            }
            '\\' => {
                let w = word.get_or_insert_with(Word::default);
                // A backslash at the very end of the line stands for itself.
                w.push_char(chars.next().unwrap_or('\\'));
            }
            '$' => dollar(&mut chars, word.get_or_insert_with(Word::default))?,
            c => word.get_or_insert_with(Word::default).push_char(c),
        }
    }
    command.extend(word.take());
    if !command.is_empty() {
        commands.push(command);
    }
    Ok(commands)
}

/// After an opening `'`: everything up to the closing `'` is literal.
fn single_quoted(chars: &mut Chars<'_>, word: &mut Word) -> Result<(), ParseError> {
    for c in chars.by_ref() {
        if c == '\'' {
            return Ok(());
        }
        word.push_char(c);
    }
    Err(ParseError::UnterminatedSingleQuote)
}

/// After an opening `"`: literal text, `$` expansions and a few backslash escapes.
fn double_quoted(chars: &mut Chars<'_>, word: &mut Word) -> Result<(), ParseError> {
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(()),
            '\\' => match chars.next() {
                Some(e @ ('$' | '"' | '\\' | '`')) => word.push_char(e),
                Some(other) => {
                    word.push_char('\\');
                    word.push_char(other);
                }
                None => return Err(ParseError::UnterminatedDoubleQuote),
            },
            '$' => dollar(chars, word)?,
            c => word.push_char(c),
        }
    }
    Err(ParseError::UnterminatedDoubleQuote)
}

/// After a `$`: `?`, `{NAME}`, `NAME`, or else a literal `$`.
fn dollar(chars: &mut Chars<'_>, word: &mut Word) -> Result<(), ParseError> {
    match chars.peek() {
        Some('?') => {
            chars.next();
            word.parts.push(Part::Status);
        }
        Some('{') => {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(c) => name.push(c),
                    None => return Err(ParseError::UnterminatedBrace),
                }
            }
            if name == "?" {
                word.parts.push(Part::Status);
            } else if is_name(&name) {
                word.parts.push(Part::Var(name));
            } else {
                return Err(ParseError::BadSubstitution(name));
            }
        }
        Some(&c) if is_name_start(c) => {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if !is_name_char(c) {
                    break;
                }
                name.push(c);
                chars.next();
            }
            word.parts.push(Part::Var(name));
        }
        _ => word.push_char('$'),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Part {
        Part::Lit(s.to_string())
    }

    fn var(s: &str) -> Part {
        Part::Var(s.to_string())
    }

    /// The words of a line whose words are all plain literals.
    fn literal_words(line: &str) -> Vec<Vec<String>> {
        parse_line(line)
            .unwrap()
            .into_iter()
            .map(|cmd| {
                cmd.into_iter()
                    .map(|w| match w.parts.as_slice() {
                        [Part::Lit(s)] => s.clone(),
                        other => panic!("not a literal word: {other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn splits_words_on_blanks() {
        assert_eq!(literal_words("  ls   -l\t/tmp  "), [["ls", "-l", "/tmp"]]);
    }

    #[test]
    fn empty_and_comment_lines_have_no_commands() {
        assert!(parse_line("").unwrap().is_empty());
        assert!(parse_line("   \t ").unwrap().is_empty());
        assert!(parse_line("# just a comment").unwrap().is_empty());
        assert!(parse_line(" ; ;; ").unwrap().is_empty());
    }

    #[test]
    fn semicolons_separate_commands() {
        assert_eq!(
            literal_words("echo a;echo b ; pwd"),
            vec![vec!["echo", "a"], vec!["echo", "b"], vec!["pwd"]]
        );
    }

    #[test]
    fn newlines_separate_commands_and_end_comments() {
        assert_eq!(
            literal_words("echo a # one\necho b\n\n"),
            vec![vec!["echo", "a"], vec!["echo", "b"]]
        );
        assert_eq!(literal_words("echo 'x\ny'"), [["echo", "x\ny"]]);
    }

    #[test]
    fn hash_starts_a_comment_only_at_a_word_start() {
        assert_eq!(literal_words("echo a#b # c d"), [["echo", "a#b"]]);
        assert_eq!(literal_words("echo '#x' \\#y"), [["echo", "#x", "#y"]]);
    }

    #[test]
    fn single_quotes_keep_everything() {
        assert_eq!(
            literal_words(r#"echo 'a  b' '$HOME' '\n' '"' ';#'"#),
            [["echo", "a  b", "$HOME", "\\n", "\"", ";#"]]
        );
    }

    #[test]
    fn double_quotes_escape_only_a_few_characters() {
        assert_eq!(
            literal_words(r#"echo "a  b" "\$x" "\"" "\\" "\n" "'""#),
            [["echo", "a  b", "$x", "\"", "\\", "\\n", "'"]]
        );
    }

    #[test]
    fn backslash_outside_quotes_takes_the_next_character() {
        assert_eq!(
            literal_words(r"echo a\ b \; \$x \\ end\"),
            [["echo", "a b", ";", "$x", "\\", "end\\"]]
        );
    }

    #[test]
    fn quotes_glue_into_one_word() {
        assert_eq!(literal_words(r#"echo a'b c'"d"\ e"#), [["echo", "ab cd e"]]);
    }

    #[test]
    fn empty_quotes_make_an_empty_quoted_word() {
        let cmds = parse_line("echo '' \"\"").unwrap();
        assert_eq!(cmds[0].len(), 3);
        for w in &cmds[0][1..] {
            assert!(w.parts.is_empty());
            assert!(w.quoted);
        }
    }

    #[test]
    fn dollar_forms() {
        let cmds = parse_line(r#"echo $HOME ${USER}x a$B_2-c $? ${?} "$X y" '$Z'"#).unwrap();
        let words: Vec<_> = cmds[0].iter().map(|w| w.parts.clone()).collect();
        assert_eq!(
            words,
            vec![
                vec![lit("echo")],
                vec![var("HOME")],
                vec![var("USER"), lit("x")],
                vec![lit("a"), var("B_2"), lit("-c")],
                vec![Part::Status],
                vec![Part::Status],
                vec![var("X"), lit(" y")],
                vec![lit("$Z")],
            ]
        );
        assert!(!cmds[0][1].quoted);
        assert!(cmds[0][6].quoted);
    }

    #[test]
    fn lone_dollar_is_literal() {
        assert_eq!(
            literal_words("echo $ a$ $1 $-"),
            [["echo", "$", "a$", "$1", "$-"]]
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            parse_line("echo 'abc"),
            Err(ParseError::UnterminatedSingleQuote)
        );
        assert_eq!(
            parse_line("echo \"abc"),
            Err(ParseError::UnterminatedDoubleQuote)
        );
        assert_eq!(
            parse_line("echo ${HOME"),
            Err(ParseError::UnterminatedBrace)
        );
        assert_eq!(
            parse_line("echo ${1x}"),
            Err(ParseError::BadSubstitution("1x".into()))
        );
        assert_eq!(
            ParseError::BadSubstitution(String::new()).to_string(),
            "${}: bad substitution"
        );
        assert_eq!(
            ParseError::UnterminatedBrace.to_string(),
            "syntax error: missing } after ${"
        );
    }

    #[test]
    fn names() {
        assert!(is_name("HOME"));
        assert!(is_name("_a1"));
        assert!(!is_name(""));
        assert!(!is_name("1a"));
        assert!(!is_name("a-b"));
    }
}
