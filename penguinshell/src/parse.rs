//! Parse one input line into lists of pipelines of simple commands, before any
//! expansion.
//!
//! The grammar is a small subset of the POSIX shell's:
//!
//! - blanks (space, tab) separate words; `;` and newline separate commands (a
//!   pasted block of lines runs line after line);
//! - `a | b | c` is a pipeline; `a && b` and `a || b` run `b` after `a` succeeded
//!   or failed;
//! - `< FILE`, `> FILE`, `>> FILE`, `2> FILE`, `2>&1`, `>&2` redirect the
//!   descriptors 0, 1 and 2 of one command;
//! - leading `NAME=value` words are assignments;
//! - `#` at the start of a word starts a comment that runs to the end of the line;
//! - `'...'` keeps everything literally;
//! - `"..."` keeps everything literally except `$` expansions and the backslash
//!   escapes `\$`, `\"`, `\\` and `` \` ``;
//! - outside quotes, `\c` stands for the character `c` itself, `*`, `?` and `[`
//!   are glob characters ([`Part::Glob`]) and `~` at the start of a word is the
//!   home directory ([`Part::Tilde`]);
//! - `$NAME`, `${NAME}` and `$?` are recorded as [`Part::Var`] and [`Part::Status`]
//!   and replaced later by [`crate::expand`].
//!
//! Everything else a POSIX shell knows (`&`, `$(...)`, backquotes, `<<`, `( )`,
//! `if`, `for`, `while`, `case`, functions, `{ }`, `!`) is refused with
//! [`ParseError::Unsupported`] naming it: never passed on as words.

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
    /// An unquoted `*`, `?` or `[`: a pattern character for globbing.
    Glob(char),
    /// An unquoted `~` starting a word, before `/` or the word's end: `$HOME`.
    Tilde,
}

/// A word of a command: the parts it is glued from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// The parts in order; consecutive literal text is merged into one part.
    pub parts: Vec<Part>,
    /// Whether any quote appeared in the word. A quoted word survives expansion
    /// even when empty (`''`), an unquoted one that expands to nothing vanishes.
    pub quoted: bool,
    /// Whether the word starts with an unquoted `NAME=`: an assignment when it
    /// comes before the command's name.
    assign: bool,
}

/// Which descriptor a redirection connects, and to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `< FILE`: read the file.
    Read(Word),
    /// `> FILE`: create or truncate the file.
    Write(Word),
    /// `>> FILE`: append to the file.
    Append(Word),
    /// `>&N`, `<&N`: what descriptor N is connected to at that point.
    Dup(u8),
}

/// One redirection: descriptor `fd` (0, 1 or 2) connected to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The descriptor redirected: 0, 1 or 2.
    pub fd: u8,
    /// What it is connected to.
    pub target: Target,
}

/// A simple command: assignments, words (the first names the command) and
/// redirections, applied left to right.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// Leading `NAME=value` words: the name and the value to expand.
    pub assignments: Vec<(String, Word)>,
    /// The command's words.
    pub words: Vec<Word>,
    /// Its redirections, in order.
    pub redirects: Vec<Redirect>,
}

/// Commands joined by `|`: each one's output is the next one's input.
pub type Pipeline = Vec<Command>;

/// How a pipeline is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `&&`: run when the one before succeeded.
    And,
    /// `||`: run when the one before failed.
    Or,
}

/// Pipelines joined by `&&` and `||`, run left to right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The following ones, each with the operator before it.
    pub rest: Vec<(Op, Pipeline)>,
}

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
    /// `${...}` holding something that is not a variable name (a short prefix of it).
    #[error("${{{0}}}: bad substitution")]
    BadSubstitution(String),
    /// `|`, `&&` or `||` with no command on one side.
    #[error("syntax error: missing command {0} `{1}`")]
    MissingCommand(&'static str, &'static str),
    /// A redirection without its file name (or `>&` without 0, 1 or 2).
    #[error("syntax error: `{0}` needs {1}")]
    BadRedirect(&'static str, &'static str),
    /// Syntax of the POSIX shell this shell does not have.
    #[error("{0} is not supported (type help)")]
    Unsupported(String),
}

/// Words that start compound commands in a POSIX shell; refused in command position.
const RESERVED: [&str; 18] = [
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if",
    "in", "select", "then", "until", "while",
];

impl Word {
    fn push_char(&mut self, c: char) {
        if let Some(Part::Lit(s)) = self.parts.last_mut() {
            s.push(c);
        } else {
            self.parts.push(Part::Lit(c.to_string()));
        }
    }

    /// The word's text when it is one unquoted literal (`ls`, `if`, `X=1`).
    fn plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] if !self.quoted => Some(s),
            _ => None,
        }
    }
}

impl Command {
    fn is_empty(&self) -> bool {
        self.assignments.is_empty() && self.words.is_empty() && self.redirects.is_empty()
    }

    /// Adds `word`: an assignment while no word came yet, else a word.
    fn push(&mut self, mut word: Word) -> Result<(), ParseError> {
        if self.words.is_empty() {
            if word.assign
                && let Some(Part::Lit(s)) = word.parts.first_mut()
                && let Some(eq) = position(s, b'=')
            {
                let name = s[..eq].to_string();
                s.replace_range(..=eq, "");
                if s.is_empty() {
                    word.parts.remove(0);
                }
                self.assignments.push((name, word));
                return Ok(());
            }
            if let Some(text) = word.plain()
                && RESERVED.contains(&text)
            {
                return Err(ParseError::Unsupported(format!("`{text}`")));
            }
        }
        word.assign = false;
        self.words.push(word);
        Ok(())
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

/// What the lexer hands the parser.
enum Token {
    Word(Word),
    /// `|`, `&&`, `||`.
    Op(&'static str),
    /// `;` or a newline.
    End,
    /// A redirection of descriptor `fd`, whose target word (if any) follows.
    Redirect(u8, Redir),
}

/// The redirection operators.
enum Redir {
    Read,
    Write,
    Append,
    Dup(u8),
}

/// Splits the line into tokens, one at a time.
struct Lexer<'a> {
    line: &'a str,
    at: usize,
}

/// Whether `b` ends an unquoted word.
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'|' | b'&' | b'<' | b'>' | b'(' | b')'
    )
}

fn unsupported(what: &str) -> ParseError {
    ParseError::Unsupported(what.to_string())
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.at).copied()
    }

    /// Consumes the next byte if it is `b`.
    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.at += usize::from(found);
        found
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.line[self.at..].chars().next()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn token(&mut self) -> Result<Option<Token>, ParseError> {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.at += 1;
        }
        let Some(b) = self.peek() else {
            return Ok(None);
        };
        // `2>`: a single digit right before `<` or `>` names the descriptor.
        let rest = &self.line.as_bytes()[self.at..];
        if b.is_ascii_digit() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if let Some(b'<' | b'>') = rest.get(digits) {
                if digits > 1 || b > b'2' {
                    return Err(unsupported("redirecting descriptors other than 0, 1, 2"));
                }
                self.at += 1;
                return self.redirect(b - b'0').map(Some);
            }
        }
        self.at += 1;
        let token = match b {
            b'#' => {
                // The comment runs to the end of the line, not of the input.
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.at += 1;
                }
                return self.token();
            }
            b';' | b'\n' => Token::End,
            b'|' if self.eat(b'|') => Token::Op("||"),
            b'|' if self.peek() == Some(b'&') => return Err(unsupported("`|&`")),
            b'|' => Token::Op("|"),
            b'&' if self.eat(b'&') => Token::Op("&&"),
            b'&' => return Err(unsupported("`&` (background jobs)")),
            b'(' | b')' => return Err(unsupported("`( )` (subshells and functions)")),
            b'<' | b'>' => {
                self.at -= 1;
                return self.redirect(u8::from(b == b'>')).map(Some);
            }
            _ => {
                self.at -= 1;
                Token::Word(self.word()?)
            }
        };
        Ok(Some(token))
    }

    /// At `<` or `>`: the operator, for descriptor `fd`.
    fn redirect(&mut self, fd: u8) -> Result<Token, ParseError> {
        let op = if self.eat(b'<') {
            if self.eat(b'<') {
                return Err(unsupported("`<<` (here-documents)"));
            }
            if self.peek() == Some(b'>') {
                return Err(unsupported("`<>`"));
            }
            if self.eat(b'&') {
                return self.dup(fd, "<&");
            }
            Redir::Read
        } else {
            self.at += 1;
            if self.eat(b'&') {
                return self.dup(fd, ">&");
            }
            if self.eat(b'>') {
                Redir::Append
            } else {
                self.eat(b'|');
                Redir::Write
            }
        };
        Ok(Token::Redirect(fd, op))
    }

    /// After `>&` or `<&`: the descriptor 0, 1 or 2, alone.
    fn dup(&mut self, fd: u8, op: &'static str) -> Result<Token, ParseError> {
        match self.peek() {
            Some(d @ b'0'..=b'2') => {
                self.at += 1;
                if self.peek().is_none_or(is_delimiter) {
                    return Ok(Token::Redirect(fd, Redir::Dup(d - b'0')));
                }
            }
            Some(b'-') => return Err(unsupported("closing a descriptor (`>&-`)")),
            _ => {}
        }
        Err(ParseError::BadRedirect(op, "0, 1 or 2"))
    }

    /// One word, up to an unquoted delimiter.
    fn word(&mut self) -> Result<Word, ParseError> {
        let mut word = Word::default();
        let start = self.at;
        // Whether everything so far is unquoted literal text (`NAME=` can follow).
        let mut plain = true;
        while let Some(b) = self.peek() {
            if is_delimiter(b) {
                break;
            }
            match b {
                b'\'' => {
                    self.at += 1;
                    word.quoted = true;
                    self.single_quoted(&mut word)?;
                }
                b'"' => {
                    self.at += 1;
                    word.quoted = true;
                    self.double_quoted(&mut word)?;
                }
                b'\\' => {
                    self.at += 1;
                    // A backslash at the very end of the line stands for itself.
                    word.push_char(self.next_char().unwrap_or('\\'));
                }
                b'$' => {
                    self.at += 1;
                    self.dollar(&mut word)?;
                }
                b'`' => return Err(unsupported("`...` (command substitution)")),
                b'*' | b'?' | b'[' => {
                    self.at += 1;
                    word.parts.push(Part::Glob(char::from(b)));
                }
                b'~' if self.at == start => {
                    self.at += 1;
                    if self.peek().is_none_or(|b| b == b'/' || is_delimiter(b)) {
                        word.parts.push(Part::Tilde);
                    } else {
                        word.push_char('~');
                    }
                }
                b'=' if plain && !word.assign => {
                    self.at += 1;
                    word.assign = word.plain().is_some_and(is_name);
                    word.push_char('=');
                    continue;
                }
                _ => {
                    let c = self.next_char().unwrap_or_default();
                    word.push_char(c);
                    continue;
                }
            }
            plain = false;
        }
        Ok(word)
    }

    /// After an opening `'`: everything up to the closing `'` is literal.
    fn single_quoted(&mut self, word: &mut Word) -> Result<(), ParseError> {
        let rest = &self.line[self.at..];
        let end = position(rest, b'\'').ok_or(ParseError::UnterminatedSingleQuote)?;
        push_str(word, &rest[..end]);
        self.at += end + 1;
        Ok(())
    }

    /// After an opening `"`: literal text, `$` expansions and a few backslash escapes.
    fn double_quoted(&mut self, word: &mut Word) -> Result<(), ParseError> {
        while let Some(c) = self.next_char() {
            match c {
                '"' => return Ok(()),
                '\\' => match self.next_char() {
                    Some(e @ ('$' | '"' | '\\' | '`')) => word.push_char(e),
                    Some(other) => {
                        word.push_char('\\');
                        word.push_char(other);
                    }
                    None => break,
                },
                '$' => self.dollar(word)?,
                '`' => return Err(unsupported("`...` (command substitution)")),
                c => word.push_char(c),
            }
        }
        Err(ParseError::UnterminatedDoubleQuote)
    }

    /// After a `$`: `?`, `{NAME}`, `NAME`, or else a literal `$`.
    fn dollar(&mut self, word: &mut Word) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'?') => {
                self.at += 1;
                word.parts.push(Part::Status);
            }
            Some(b'(') => return Err(unsupported("`$(...)` (command substitution)")),
            Some(b'{') => {
                self.at += 1;
                let rest = &self.line[self.at..];
                let end = position(rest, b'}').ok_or(ParseError::UnterminatedBrace)?;
                let name = &rest[..end];
                self.at += end + 1;
                if name == "?" {
                    word.parts.push(Part::Status);
                } else if is_name(name) {
                    word.parts.push(Part::Var(name.to_string()));
                } else {
                    return Err(ParseError::BadSubstitution(crate::builtins::shown(name)));
                }
            }
            Some(c) if is_name_start(char::from(c)) => {
                let rest = &self.line[self.at..];
                let len = rest
                    .bytes()
                    .position(|b| !is_name_char(char::from(b)))
                    .unwrap_or(rest.len());
                word.parts.push(Part::Var(rest[..len].to_string()));
                self.at += len;
            }
            _ => word.push_char('$'),
        }
        Ok(())
    }
}

/// Where the ASCII byte `b` first occurs in `s`.
fn position(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// Appends literal text to `word`, merging with a literal before it.
fn push_str(word: &mut Word, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Part::Lit(last)) = word.parts.last_mut() {
        last.push_str(s);
    } else {
        word.parts.push(Part::Lit(s.to_string()));
    }
}

/// Splits `line` into and-or lists (separated by `;` or newline) of pipelines.
///
/// Empty commands (a blank line, `;;`, a line that is only a comment) are dropped,
/// so the result may be empty.
///
/// ```
/// use penguinshell::parse::{parse_line, Part};
/// let lists = parse_line("echo 'a b' $HOME | cat > f; pwd # where am I").unwrap();
/// assert_eq!(lists.len(), 2);
/// let echo = &lists[0].first[0];
/// assert_eq!(echo.words[1].parts, vec![Part::Lit("a b".into())]);
/// assert_eq!(echo.words[2].parts, vec![Part::Var("HOME".into())]);
/// assert_eq!(lists[0].first[1].redirects.len(), 1);
/// ```
pub fn parse_line(line: &str) -> Result<Vec<AndOr>, ParseError> {
    let mut lexer = Lexer { line, at: 0 };
    let mut lists = Vec::new();
    let mut list: Option<AndOr> = None;
    let mut pipeline = Pipeline::new();
    let mut command = Command::default();
    // The operator waiting for the command after it.
    let mut pending: Option<&'static str> = None;
    // The operator joining the next pipeline to the list.
    let mut joiner = Op::And;
    loop {
        let token = lexer.token()?;
        let end = token.is_none();
        let op = match token {
            Some(Token::Word(word)) => {
                command.push(word)?;
                continue;
            }
            Some(Token::Redirect(fd, redir)) => {
                let target = match redir {
                    Redir::Dup(n) => Target::Dup(n),
                    _ => {
                        let Some(Token::Word(mut word)) = lexer.token()? else {
                            let op = match redir {
                                Redir::Read => "<",
                                Redir::Write => ">",
                                _ => ">>",
                            };
                            return Err(ParseError::BadRedirect(op, "a file name"));
                        };
                        word.assign = false;
                        match redir {
                            Redir::Read => Target::Read(word),
                            Redir::Write => Target::Write(word),
                            _ => Target::Append(word),
                        }
                    }
                };
                command.redirects.push(Redirect { fd, target });
                continue;
            }
            Some(Token::Op(op)) => Some(op),
            Some(Token::End) | None => None,
        };
        if command.is_empty() {
            if let Some(op) = op {
                return Err(ParseError::MissingCommand("before", op));
            }
            if let Some(op) = pending {
                return Err(ParseError::MissingCommand("after", op));
            }
        } else {
            pipeline.push(std::mem::take(&mut command));
            if op != Some("|") {
                let done = std::mem::take(&mut pipeline);
                match &mut list {
                    None => {
                        list = Some(AndOr {
                            first: done,
                            rest: Vec::new(),
                        })
                    }
                    Some(list) => list.rest.push((joiner, done)),
                }
                joiner = if op == Some("&&") { Op::And } else { Op::Or };
                if op.is_none() {
                    lists.extend(list.take());
                }
            }
        }
        pending = op;
        if end {
            return Ok(lists);
        }
    }
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

    /// The simple commands of a line, in order, whatever joins them.
    fn commands(line: &str) -> Vec<Command> {
        let mut all = Vec::new();
        for list in parse_line(line).unwrap() {
            all.extend(list.first);
            for (_, pipeline) in list.rest {
                all.extend(pipeline);
            }
        }
        all
    }

    /// The words of a line whose words are all plain literals.
    fn literal_words(line: &str) -> Vec<Vec<String>> {
        commands(line)
            .into_iter()
            .map(|cmd| {
                cmd.words
                    .into_iter()
                    .map(|w| match w.parts.as_slice() {
                        [Part::Lit(s)] => s.clone(),
                        other => panic!("not a literal word: {other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    fn lit_word(s: &str) -> Word {
        Word {
            parts: vec![lit(s)],
            ..Word::default()
        }
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
        let cmds = commands("echo '' \"\"");
        assert_eq!(cmds[0].words.len(), 3);
        for w in &cmds[0].words[1..] {
            assert!(w.parts.is_empty());
            assert!(w.quoted);
        }
    }

    #[test]
    fn dollar_forms() {
        let cmds = commands(r#"echo $HOME ${USER}x a$B_2-c $? ${?} "$X y" '$Z'"#);
        let words: Vec<_> = cmds[0].words.iter().map(|w| w.parts.clone()).collect();
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
        assert!(!cmds[0].words[1].quoted);
        assert!(cmds[0].words[6].quoted);
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
    fn pipelines_and_lists() {
        let lists = parse_line("a | b | c && d || e; f").unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].first.len(), 3);
        let ops: Vec<_> = lists[0].rest.iter().map(|(op, p)| (*op, p.len())).collect();
        assert_eq!(ops, [(Op::And, 1), (Op::Or, 1)]);
        assert_eq!(lists[1].first[0].words, [lit_word("f")]);
        // `&&` binds the whole pipeline after it.
        let lists = parse_line("a && b | c").unwrap();
        assert_eq!(lists[0].rest[0].0, Op::And);
        assert_eq!(lists[0].rest[0].1.len(), 2);
        assert_eq!(literal_words("a|b&&c||d"), [["a"], ["b"], ["c"], ["d"]]);
        assert_eq!(
            literal_words("echo 'a|b' \\| \"&&\""),
            [["echo", "a|b", "|", "&&"]]
        );
    }

    #[test]
    fn operators_need_commands_on_both_sides() {
        for (line, side, op) in [
            ("| a", "before", "|"),
            ("a | | b", "before", "|"),
            ("a ||", "after", "||"),
            ("a &&; b", "after", "&&"),
            ("a |", "after", "|"),
            ("; && b", "before", "&&"),
        ] {
            assert_eq!(
                parse_line(line),
                Err(ParseError::MissingCommand(side, op)),
                "{line}"
            );
        }
        assert_eq!(
            ParseError::MissingCommand("after", "|").to_string(),
            "syntax error: missing command after `|`"
        );
    }

    #[test]
    fn redirections() {
        let cmd = &commands("cat < in > out 2>> log 2>&1 >&2 1<&0 >|f")[0];
        assert_eq!(cmd.words, [lit_word("cat")]);
        let r = |fd, target| Redirect { fd, target };
        assert_eq!(
            cmd.redirects,
            [
                r(0, Target::Read(lit_word("in"))),
                r(1, Target::Write(lit_word("out"))),
                r(2, Target::Append(lit_word("log"))),
                r(2, Target::Dup(1)),
                r(1, Target::Dup(2)),
                r(1, Target::Dup(0)),
                r(1, Target::Write(lit_word("f"))),
            ]
        );
        // No blanks needed; a digit inside a word is part of it.
        let cmd = &commands("echo a2>f>>g")[0];
        assert_eq!(cmd.words, [lit_word("echo"), lit_word("a2")]);
        assert_eq!(cmd.redirects.len(), 2);
        // A redirection alone is a command (it creates the file).
        assert_eq!(commands("> f")[0].redirects.len(), 1);
    }

    #[test]
    fn bad_redirections() {
        assert_eq!(
            parse_line("echo >"),
            Err(ParseError::BadRedirect(">", "a file name"))
        );
        assert_eq!(
            parse_line("cat < | x"),
            Err(ParseError::BadRedirect("<", "a file name"))
        );
        assert_eq!(
            parse_line("echo >&3"),
            Err(ParseError::BadRedirect(">&", "0, 1 or 2"))
        );
        assert_eq!(
            parse_line("echo >&file"),
            Err(ParseError::BadRedirect(">&", "0, 1 or 2"))
        );
        for line in ["echo 3>f", "echo 12>f", "echo >&-", "cat <<EOF", "cat <> f"] {
            assert!(
                matches!(parse_line(line), Err(ParseError::Unsupported(_))),
                "{line}"
            );
        }
    }

    #[test]
    fn assignments_come_before_the_command_name() {
        let cmd = &commands("A=1 B= C=\"x y\"$D cmd E=2")[0];
        let names: Vec<_> = cmd.assignments.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(cmd.assignments[0].1.parts, [lit("1")]);
        assert!(cmd.assignments[1].1.parts.is_empty());
        assert_eq!(cmd.assignments[2].1.parts, [lit("x y"), var("D")]);
        assert_eq!(cmd.words, [lit_word("cmd"), lit_word("E=2")]);
        // Not assignments: a quoted or escaped name, a bad name, no `=`.
        for line in ["'A=1'", "\"A\"=1", "A\\=1", "1A=2", "A-B=1", "=x"] {
            let cmd = &commands(line)[0];
            assert!(cmd.assignments.is_empty(), "{line}");
            assert_eq!(cmd.words.len(), 1, "{line}");
        }
        let cmd = &commands("X=1")[0];
        assert_eq!((cmd.assignments.len(), cmd.words.len()), (1, 0));
    }

    #[test]
    fn globs_only_outside_quotes() {
        let words: Vec<_> = commands(r#"ls *.md a?[bc] '*' "?" \[ x"#)[0]
            .words
            .iter()
            .map(|w| w.parts.clone())
            .collect();
        let g = Part::Glob;
        assert_eq!(
            words,
            vec![
                vec![lit("ls")],
                vec![g('*'), lit(".md")],
                vec![lit("a"), g('?'), g('['), lit("bc]")],
                vec![lit("*")],
                vec![lit("?")],
                vec![lit("[")],
                vec![lit("x")],
            ]
        );
    }

    #[test]
    fn tilde_only_at_the_start_of_an_unquoted_word() {
        let words: Vec<_> = commands(r#"echo ~ ~/x a~ '~' ~user \~"#)[0]
            .words
            .iter()
            .map(|w| w.parts.clone())
            .collect();
        assert_eq!(
            words,
            vec![
                vec![lit("echo")],
                vec![Part::Tilde],
                vec![Part::Tilde, lit("/x")],
                vec![lit("a~")],
                vec![lit("~")],
                vec![lit("~user")],
                vec![lit("~")],
            ]
        );
    }

    #[test]
    fn unsupported_syntax_is_refused_by_name() {
        for (line, what) in [
            ("sleep 1 &", "`&` (background jobs)"),
            ("echo $(ls)", "`$(...)` (command substitution)"),
            ("echo \"$(ls)\"", "`$(...)` (command substitution)"),
            ("echo `ls`", "`...` (command substitution)"),
            ("cat <<EOF", "`<<` (here-documents)"),
            ("f() { ls; }", "`( )` (subshells and functions)"),
            ("(ls)", "`( )` (subshells and functions)"),
            ("if true; then ls; fi", "`if`"),
            ("for x in a; do ls; done", "`for`"),
            ("while true; do ls; done", "`while`"),
            ("ls; case x in", "`case`"),
            ("! ls", "`!`"),
            ("{ ls; }", "`{`"),
            ("X=1 if", "`if`"),
            ("a |& b", "`|&`"),
        ] {
            assert_eq!(
                parse_line(line),
                Err(ParseError::Unsupported(what.into())),
                "{line}"
            );
        }
        assert_eq!(
            ParseError::Unsupported("`&` (background jobs)".into()).to_string(),
            "`&` (background jobs) is not supported (type help)"
        );
        // As arguments, or quoted, those words are ordinary.
        assert_eq!(
            literal_words("echo if then '{' 'for'"),
            [["echo", "if", "then", "{", "for"]]
        );
    }

    #[test]
    fn errors_show_a_short_prefix_of_long_input() {
        let long = "x-".repeat(100_000);
        let Err(e) = parse_line(&format!("echo ${{{long}}}")) else {
            panic!("accepted");
        };
        assert!(e.to_string().len() < 100, "{e}");
        // Found by the property tests: a newline in the name made two lines.
        assert_eq!(
            parse_line("${\n}").unwrap_err().to_string(),
            "${?}: bad substitution"
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
