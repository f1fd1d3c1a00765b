//! The parser over a table of real-world snippets, the errors it gives, and a property test:
//! no input makes it panic.

use super::*;
use proptest::prelude::*;

fn s(text: &str) -> String {
    text.to_string()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn from(source: &str) -> Kind {
    Kind::From { source: s(source) }
}

fn copy(sources: &[&str], dest: &str) -> Kind {
    Kind::Copy {
        sources: strings(sources),
        dest: s(dest),
        chmod: None,
        chown: None,
    }
}

fn sh(text: &str) -> Vec<String> {
    strings(&["/bin/sh", "-c", text])
}

fn kinds(text: &str) -> Vec<Kind> {
    kinds_with(text, &[])
}

fn kinds_with(text: &str, args: &[(&str, &str)]) -> Vec<Kind> {
    match parse(text, Path::new("Containerfile"), &pairs(args)) {
        Ok(list) => list.into_iter().map(|i| i.kind).collect(),
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn lines(text: &str) -> Vec<usize> {
    parse(text, Path::new("Containerfile"), &[])
        .unwrap()
        .into_iter()
        .map(|i| i.line)
        .collect()
}

fn error(text: &str) -> String {
    error_with(text, &[])
}

fn error_with(text: &str, args: &[(&str, &str)]) -> String {
    match parse(text, Path::new("Containerfile"), &pairs(args)) {
        Ok(list) => panic!("{text:?} parsed: {list:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_articles_dockerfile() {
    let text = "FROM scratch\nCOPY penguinshell /bin/\nENTRYPOINT [\"/bin/penguinshell\"]\n";
    let parsed = parse(text, Path::new("Dockerfile"), &[]).unwrap();
    assert_eq!(
        parsed,
        vec![
            Instruction {
                line: 1,
                kind: from("scratch")
            },
            Instruction {
                line: 2,
                kind: copy(&["penguinshell"], "/bin/")
            },
            Instruction {
                line: 3,
                kind: Kind::Entrypoint(strings(&["/bin/penguinshell"]))
            },
        ]
    );
}

#[test]
fn snippets() {
    let table: &[(&str, &str, Vec<Kind>)] = &[
        (
            "names are case-insensitive",
            "from scratch\nCoPy a /b\nentrypoint [\"/x\"]",
            vec![
                from("scratch"),
                copy(&["a"], "/b"),
                Kind::Entrypoint(strings(&["/x"])),
            ],
        ),
        (
            "comments, indented comments and empty lines",
            "# a comment\n\n   # indented\nFROM scratch\n\n\t\nCMD [\"a\"] # not a comment\n",
            vec![from("scratch"), Kind::Cmd(sh("[\"a\"] # not a comment"))],
        ),
        (
            "continuations join lines as typed, comments and empty lines inside skipped",
            "FROM scratch\nCMD echo a \\\n    b \\\n# comment inside\n\n    c\n",
            vec![from("scratch"), Kind::Cmd(sh("echo a     b     c"))],
        ),
        (
            "continuation with spaces after the backslash",
            "FROM scratch\nCOPY a \\  \n b /c/\n",
            vec![from("scratch"), copy(&["a", "b"], "/c/")],
        ),
        (
            "an escaped backslash at the end does not continue",
            "FROM scratch\nCMD echo \\\\\nUSER 1\n",
            vec![
                from("scratch"),
                Kind::Cmd(sh("echo \\\\")),
                Kind::User(s("1")),
            ],
        ),
        (
            "continuation at the end of the file",
            "FROM scratch\nCMD echo \\",
            vec![from("scratch"), Kind::Cmd(sh("echo"))],
        ),
        (
            "CRLF line ends",
            "FROM scratch\r\nCOPY a \\\r\n /b\r\nUSER 0\r\n",
            vec![from("scratch"), copy(&["a"], "/b"), Kind::User(s("0"))],
        ),
        (
            "the escape directive makes ` the escape character",
            "# escape=`\nFROM scratch\nCOPY a `\n  b c:\\dir\\\n",
            vec![from("scratch"), copy(&["a", "b"], "c:\\dir\\")],
        ),
        (
            "syntax then escape directives",
            "# syntax=docker/dockerfile:1\n#escape = `\nFROM scratch\nENV A=x`$y\n",
            vec![from("scratch"), Kind::Env(pairs(&[("A", "x$y")]))],
        ),
        (
            "a directive after a comment is a comment",
            "# hello\n# escape=`\nFROM scratch\nCMD a \\\n b\n",
            vec![from("scratch"), Kind::Cmd(sh("a  b"))],
        ),
        (
            "a directive after an instruction is a comment",
            "FROM scratch\n# escape=`\nCMD a \\\n b\n",
            vec![from("scratch"), Kind::Cmd(sh("a  b"))],
        ),
        (
            "a byte order mark",
            "\u{feff}FROM scratch\n",
            vec![from("scratch")],
        ),
        (
            "exec form keeps every argument, no substitution",
            "FROM scratch\nENV X=1\nENTRYPOINT [ \"/bin/sh\", \"-c\", \"echo $X\" ]\nCMD []\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("X", "1")])),
                Kind::Entrypoint(strings(&["/bin/sh", "-c", "echo $X"])),
                Kind::Cmd(vec![]),
            ],
        ),
        (
            "invalid JSON falls back to the shell form",
            "FROM scratch\nCMD [\"a\", 'b']\nENTRYPOINT [/bin/x]\n",
            vec![
                from("scratch"),
                Kind::Cmd(sh("[\"a\", 'b']")),
                Kind::Entrypoint(sh("[/bin/x]")),
            ],
        ),
        (
            "shell form is the trimmed text, unsubstituted",
            "FROM scratch\nENV HOME=/h\nCMD   echo \"$HOME\"  &&  ls   \n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("HOME", "/h")])),
                Kind::Cmd(sh("echo \"$HOME\"  &&  ls")),
            ],
        ),
        (
            "ENV forms: pairs with quotes and escapes, and the legacy form",
            "FROM scratch\nENV A=1 B=\"two words\" C='$A' D=\\$A E=a\\ b\nENV F the rest  is the value\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[
                    ("A", "1"),
                    ("B", "two words"),
                    ("C", "$A"),
                    ("D", "$A"),
                    ("E", "a b"),
                ])),
                Kind::Env(pairs(&[("F", "the rest  is the value")])),
            ],
        ),
        (
            "one ENV sees the values from before it",
            "FROM scratch\nENV A=old\nENV A=new B=$A\nENV C=$A\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("A", "old")])),
                Kind::Env(pairs(&[("A", "new"), ("B", "old")])),
                Kind::Env(pairs(&[("C", "new")])),
            ],
        ),
        (
            "substitution forms",
            "FROM scratch\nENV E= S=set\nENV a=${S} b=${U:-def} c=${E:-def} d=${E-def} e=${S:+alt} f=${U:+alt} g=${E+alt} h=$S$S i=${S}x j=$Sx k=$ l=\"$S\" m='${S}'\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("E", ""), ("S", "set")])),
                Kind::Env(pairs(&[
                    ("a", "set"),
                    ("b", "def"),
                    ("c", "def"),
                    ("d", ""),
                    ("e", "alt"),
                    ("f", ""),
                    ("g", "alt"),
                    ("h", "setset"),
                    ("i", "setx"),
                    ("j", ""),
                    ("k", "$"),
                    ("l", "set"),
                    ("m", "${S}"),
                ])),
            ],
        ),
        (
            "nested defaults",
            "FROM scratch\nENV B=b\nWORKDIR /${A:-${B:-c}}/${A:-${C:-\"d e\"}}\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("B", "b")])),
                Kind::Workdir(s("/b/d e")),
            ],
        ),
        (
            "escapes in double quotes: only \\\" \\$ and \\\\ are escapes",
            "FROM scratch\nLABEL a=\"x\\\"y\\$z\\\\w\\n\"\n",
            vec![
                from("scratch"),
                Kind::Label(pairs(&[("a", "x\"y$z\\w\\n")])),
            ],
        ),
        (
            "LABEL pairs and the legacy form",
            "FROM scratch\nLABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0 description=\"multi\\\n line\"\nLABEL maintainer someone <a@b>\n",
            vec![
                from("scratch"),
                Kind::Label(pairs(&[
                    ("com.example.vendor", "ACME Inc"),
                    ("version", "1.0"),
                    ("description", "multi line"),
                ])),
                Kind::Label(pairs(&[("maintainer", "someone <a@b>")])),
            ],
        ),
        (
            "ARG before FROM is for FROM only",
            "ARG BASE=oci:base\nFROM ${BASE}\nENV X=${BASE}y\n",
            vec![
                Kind::Arg {
                    name: s("BASE"),
                    default: Some(s("oci:base")),
                },
                from("oci:base"),
                Kind::Env(pairs(&[("X", "y")])),
            ],
        ),
        (
            "ARG without a value after FROM takes the one from before FROM",
            "ARG V=1\nFROM scratch\nARG V\nENV X=$V\n",
            vec![
                Kind::Arg {
                    name: s("V"),
                    default: Some(s("1")),
                },
                from("scratch"),
                Kind::Arg {
                    name: s("V"),
                    default: None,
                },
                Kind::Env(pairs(&[("X", "1")])),
            ],
        ),
        (
            "ENV wins over ARG, an ARG without value stays unset",
            "FROM scratch\nARG A=arg\nARG B\nENV A=env\nUSER ${A}:${B:-none}\n",
            vec![
                from("scratch"),
                Kind::Arg {
                    name: s("A"),
                    default: Some(s("arg")),
                },
                Kind::Arg {
                    name: s("B"),
                    default: None,
                },
                Kind::Env(pairs(&[("A", "env")])),
                Kind::User(s("env:none")),
            ],
        ),
        (
            "several ARGs on one line, a default using an earlier one",
            "FROM scratch\nARG A=1 B=${A}2\nSTOPSIGNAL SIGTERM\nWORKDIR /$B\n",
            vec![
                from("scratch"),
                Kind::Arg {
                    name: s("A"),
                    default: Some(s("1")),
                },
                Kind::Arg {
                    name: s("B"),
                    default: Some(s("12")),
                },
                Kind::Stopsignal(s("SIGTERM")),
                Kind::Workdir(s("/12")),
            ],
        ),
        (
            "an undeclared variable is empty, not a build arg",
            "FROM scratch\nWORKDIR /x$UNDECLARED\n",
            vec![from("scratch"), Kind::Workdir(s("/x"))],
        ),
        (
            "COPY flags, JSON form, several sources, substitution",
            "FROM scratch\nENV D=/opt\nCOPY --chmod=0755 --chown=1000:100 a b $D/\nCOPY [\"with space\", \"${D}/x\"]\nADD --chown=7 \"--notaflag\" /\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("D", "/opt")])),
                Kind::Copy {
                    sources: strings(&["a", "b"]),
                    dest: s("/opt/"),
                    chmod: Some(0o755),
                    chown: Some((1000, 100)),
                },
                copy(&["with space"], "/opt/x"),
                Kind::Add {
                    sources: strings(&["--notaflag"]),
                    dest: s("/"),
                    chmod: None,
                    chown: Some((7, 7)),
                },
            ],
        ),
        (
            "quoted flag values",
            "FROM scratch\nCOPY --chmod=\"644\" a /a\n",
            vec![
                from("scratch"),
                Kind::Copy {
                    sources: strings(&["a"]),
                    dest: s("/a"),
                    chmod: Some(0o644),
                    chown: None,
                },
            ],
        ),
        (
            "EXPOSE: default protocol, ranges, words from a variable",
            "FROM scratch\nENV P=\"53/udp 8080\"\nEXPOSE 80 443/TCP 8000-8002/sctp $P 80\n",
            vec![
                from("scratch"),
                Kind::Env(pairs(&[("P", "53/udp 8080")])),
                Kind::Expose(strings(&[
                    "80/tcp",
                    "443/tcp",
                    "8000/sctp",
                    "8001/sctp",
                    "8002/sctp",
                    "53/udp",
                    "8080/tcp",
                ])),
            ],
        ),
        (
            "instructions packer refuses come through by name",
            "FROM scratch\nRUN apt-get update\nvolume /data\nHEALTHCHECK NONE\nSHELL [\"/bin/bash\"]\nMAINTAINER me\nONBUILD RUN x\n",
            vec![
                from("scratch"),
                Kind::Unsupported { name: s("RUN") },
                Kind::Unsupported { name: s("VOLUME") },
                Kind::Unsupported {
                    name: s("HEALTHCHECK"),
                },
                Kind::Unsupported { name: s("SHELL") },
                Kind::Unsupported {
                    name: s("MAINTAINER"),
                },
                Kind::Unsupported { name: s("ONBUILD") },
            ],
        ),
        (
            "FROM AS, and transport names",
            "FROM oci:/tmp/base:latest AS build\n",
            vec![from("oci:/tmp/base:latest")],
        ),
        (
            "WORKDIR and USER take the whole rest of the line",
            "FROM SCRATCH\nWORKDIR /a b\nUSER nobody:nogroup\n",
            vec![
                from("scratch"),
                Kind::Workdir(s("/a b")),
                Kind::User(s("nobody:nogroup")),
            ],
        ),
        (
            "a typical application Dockerfile",
            "# syntax=docker/dockerfile:1\n\
             ARG TAG=latest\n\
             FROM oci:base:${TAG}\n\
             LABEL org.opencontainers.image.title=\"penguin\" \\\n      org.opencontainers.image.licenses=MIT\n\
             ENV PATH=/usr/local/bin:/usr/bin:/bin \\\n    LANG=C.UTF-8\n\
             WORKDIR /app\n\
             COPY --chown=0:0 bin/ /usr/local/bin/\n\
             EXPOSE 8080\n\
             USER 65534\n\
             STOPSIGNAL 15\n\
             ENTRYPOINT [\"/usr/local/bin/app\"]\n\
             CMD [\"--help\"]\n",
            vec![
                Kind::Arg {
                    name: s("TAG"),
                    default: Some(s("latest")),
                },
                from("oci:base:latest"),
                Kind::Label(pairs(&[
                    ("org.opencontainers.image.title", "penguin"),
                    ("org.opencontainers.image.licenses", "MIT"),
                ])),
                Kind::Env(pairs(&[
                    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
                    ("LANG", "C.UTF-8"),
                ])),
                Kind::Workdir(s("/app")),
                Kind::Copy {
                    sources: strings(&["bin/"]),
                    dest: s("/usr/local/bin/"),
                    chmod: None,
                    chown: Some((0, 0)),
                },
                Kind::Expose(strings(&["8080/tcp"])),
                Kind::User(s("65534")),
                Kind::Stopsignal(s("15")),
                Kind::Entrypoint(strings(&["/usr/local/bin/app"])),
                Kind::Cmd(strings(&["--help"])),
            ],
        ),
    ];
    for (name, text, want) in table {
        assert_eq!(&kinds(text), want, "{name}");
    }
}

#[test]
fn build_args_override_declared_defaults_only() {
    let text =
        "ARG BASE=scratch\nFROM $BASE\nARG V=default\nARG W\nENV A=$V B=$W C=$NOT_DECLARED\n";
    assert_eq!(
        kinds_with(
            text,
            &[
                ("BASE", "oci:x"),
                ("V", "first"),
                ("V", "given"),
                ("W", "w"),
                ("NOT_DECLARED", "n")
            ]
        )[4],
        Kind::Env(pairs(&[("A", "given"), ("B", "w"), ("C", "")]))
    );
    assert_eq!(kinds_with(text, &[("BASE", "oci:x")])[1], from("oci:x"));
}

#[test]
fn base_env_is_visible_after_from() {
    let base = pairs(&[("PATH", "/bin"), ("HOME", "/root")]);
    let parsed = parse_with_env(
        "FROM oci:b\nENV PATH=/opt:$PATH\nWORKDIR $HOME\n",
        Path::new("C"),
        &[],
        &base,
    )
    .unwrap();
    assert_eq!(parsed[1].kind, Kind::Env(pairs(&[("PATH", "/opt:/bin")])));
    assert_eq!(parsed[2].kind, Kind::Workdir(s("/root")));
}

#[test]
fn line_numbers_are_where_instructions_start() {
    assert_eq!(
        lines("# c\n\nFROM scratch\nCOPY a \\\n  b \\\n  /c\n\nUSER 1\n"),
        vec![3, 4, 8]
    );
}

#[test]
fn errors_name_file_line_and_instruction() {
    let table: &[(&str, &str)] = &[
        (
            "",
            "Containerfile:1: the file has no instructions; it starts with FROM",
        ),
        (
            "# only a comment\n\n",
            "Containerfile:2: the file has no instructions",
        ),
        ("ARG A=1\n", "Containerfile:1: no FROM instruction"),
        ("COPY a /b\n", "Containerfile:1: COPY: comes before FROM"),
        (
            "FROM scratch\nFROB x\n",
            "Containerfile:2: FROB: unknown instruction",
        ),
        (
            "FROM scratch\nCOPY a\n",
            "Containerfile:2: COPY: COPY requires at least two arguments",
        ),
        (
            "FROM scratch\n\nCOPY --from=build /a /b\n",
            "Containerfile:3: COPY: COPY --from copies from another stage",
        ),
        (
            "FROM scratch\nCOPY --chown=root:root a /b\n",
            "Containerfile:2: COPY: --chown=root:root: packer takes numeric ids",
        ),
        (
            "FROM scratch\nCOPY --chmod=u+x a /b\n",
            "Containerfile:2: COPY: --chmod=u+x: give an octal mode",
        ),
        (
            "FROM scratch\nCOPY --chmod=17777 a /b\n",
            "--chmod=17777: give an octal mode",
        ),
        (
            "FROM scratch\nCOPY --chmod a /b\n",
            "Containerfile:2: COPY: COPY --chmod needs a value",
        ),
        (
            "FROM scratch\nCOPY --chmod=1 --chmod=2 a /b\n",
            "duplicate flag specified: --chmod",
        ),
        (
            "FROM scratch\nCOPY --link a /b\n",
            "COPY --link needs a value",
        ),
        (
            "FROM scratch\nCOPY --link=true a /b\n",
            "COPY --link is not supported by packer",
        ),
        (
            "FROM scratch\nENV --x=1 A=1\n",
            "Containerfile:2: ENV: unknown flag: --x",
        ),
        (
            "FROM scratch\nADD https://example.com/x /x\n",
            "Containerfile:2: ADD: https://example.com/x: ADD of a URL needs the network",
        ),
        (
            "FROM scratch\nFROM scratch\n",
            "Containerfile:2: FROM: a second FROM starts a multi-stage build",
        ),
        (
            "FROM --platform=linux/arm64 scratch\n",
            "Containerfile:1: FROM: FROM --platform is not supported",
        ),
        ("FROM a b\n", "FROM requires either one or three arguments"),
        ("FROM a AS 1x\n", "invalid name for build stage"),
        (
            "FROM $EMPTY\n",
            "Containerfile:1: FROM: base name ($EMPTY) should not be blank",
        ),
        (
            "FROM scratch\nENV\n",
            "Containerfile:2: ENV: ENV requires at least one argument",
        ),
        ("FROM scratch\nENV A\n", "ENV must have two arguments"),
        (
            "FROM scratch\nENV A=1 B\n",
            "syntax error - can't find = in \"B\"",
        ),
        ("FROM scratch\nENV =1\n", "ENV names can not be blank"),
        (
            "FROM scratch\nLABEL\n",
            "LABEL requires at least one argument",
        ),
        ("FROM scratch\nARG\n", "ARG requires at least one argument"),
        ("FROM scratch\nARG =x\n", "ARG names can not be blank"),
        (
            "FROM scratch\nCMD [\"a\", 1]\n",
            "Containerfile:2: CMD: when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (
            "FROM scratch\nENTRYPOINT\n",
            "ENTRYPOINT requires at least one argument",
        ),
        (
            "FROM scratch\nWORKDIR\n",
            "WORKDIR requires exactly one argument",
        ),
        (
            "FROM scratch\nWORKDIR $NOTHING\n",
            "substitutes to an empty path",
        ),
        ("FROM scratch\nUSER\n", "USER requires exactly one argument"),
        (
            "FROM scratch\nSTOPSIGNAL SIGNOPE\n",
            "invalid signal: SIGNOPE",
        ),
        ("FROM scratch\nSTOPSIGNAL 0\n", "invalid signal: 0"),
        (
            "FROM scratch\nEXPOSE\n",
            "EXPOSE requires at least one argument",
        ),
        (
            "FROM scratch\nEXPOSE 80/quic\n",
            "the protocol is tcp, udp or sctp",
        ),
        ("FROM scratch\nEXPOSE 70000\n", "a port is a number"),
        ("FROM scratch\nEXPOSE 90-80\n", "a port is a number"),
        (
            "FROM scratch\nEXPOSE 127.0.0.1:80:80\n",
            "not a host mapping",
        ),
        (
            "FROM scratch\nENV A=\"open\n",
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            "FROM scratch\nENV A='open\n",
            "unexpected end of statement while looking for matching single-quote",
        ),
        ("FROM scratch\nENV A=${B\n", "syntax error: missing '}'"),
        ("FROM scratch\nENV A=${B:-x\n", "syntax error: missing '}'"),
        (
            "FROM scratch\nENV A=${}\n",
            "syntax error: bad substitution",
        ),
        (
            "FROM scratch\nENV A=${:-x}\n",
            "syntax error: bad substitution",
        ),
        (
            "FROM scratch\nENV A=${B#x}\n",
            "unsupported modifier (#) in substitution",
        ),
        (
            "FROM scratch\nENV A=\"${B:?must be set}\"\n",
            "Containerfile:2: ENV: B: must be set",
        ),
        (
            "FROM scratch\nENV A=${B?}\n",
            "B: is not allowed to be unset",
        ),
        (
            "# escape=x\nFROM scratch\n",
            "Containerfile:1: invalid escape token \"x\"",
        ),
        (
            "# escape=`\n# escape=\\\nFROM scratch\n",
            "Containerfile:2: only one escape parser directive can be used",
        ),
        (
            "FROM scratch\nCOPY a /b\x1b[31m\nFOO\x07 x\n",
            "Containerfile:3: FOO\\u{7}: unknown instruction",
        ),
    ];
    for (text, want) in table {
        let got = error(text);
        assert!(
            got.contains(want),
            "{text:?}: {got:?} does not contain {want:?}"
        );
        assert!(!got.contains('\n'), "{text:?}: {got:?}");
    }
}

#[test]
fn the_issues_error_format() {
    let e = ContainerfileError {
        file: PathBuf::from("Containerfile"),
        line: 3,
        instruction: s("COPY"),
        reason: s("penguinshell: No such file or directory"),
    };
    assert_eq!(
        e.to_string(),
        "Containerfile:3: COPY: penguinshell: No such file or directory"
    );
    let e = parse("FROM scratch\nFROM x\n", Path::new("dir/Dockerfile"), &[]).unwrap_err();
    assert_eq!((e.line, e.instruction.as_str()), (2, "FROM"));
    assert!(e.to_string().starts_with("dir/Dockerfile:2: FROM: "));
}

#[test]
fn bounds() {
    let big = format!("FROM scratch\n#{}\n", "x".repeat(MAX_FILE_BYTES));
    assert!(error(&big).contains("more than the 1024 KiB"));
    let long = format!("FROM scratch\nUSER {}\n", "x".repeat(MAX_LINE_BYTES));
    assert!(error(&long).starts_with("Containerfile:2: the line is"));
    let mut joined = String::from("FROM scratch\nUSER ");
    for _ in 0..(MAX_INSTRUCTION_BYTES / 1000 + 1) {
        joined.push_str(&"y".repeat(1000));
        joined.push_str("\\\n");
    }
    assert!(error(&joined).contains("the instruction is more than 256 KiB long"));
    let many = "FROM scratch\n".to_string() + &"USER 1\n".repeat(MAX_INSTRUCTIONS);
    assert!(error(&many).contains("more than 10000 instructions"));
    let deep = format!(
        "FROM scratch\nUSER {}x{}\n",
        "${A:-".repeat(MAX_SUBSTITUTION_DEPTH + 1),
        "}".repeat(MAX_SUBSTITUTION_DEPTH + 1)
    );
    assert!(error(&deep).contains("nested more than 16 deep"));
    let ok = format!(
        "FROM scratch\nUSER {}x{}\n",
        "${A:-".repeat(MAX_SUBSTITUTION_DEPTH),
        "}".repeat(MAX_SUBSTITUTION_DEPTH)
    );
    assert_eq!(kinds(&ok)[1], Kind::User(s("x")));
    // doubling a value: each word is bounded, and so is the whole file's output
    let mut doubling = String::from("FROM scratch\nENV A=0123456789abcdef\n");
    for _ in 0..20 {
        doubling.push_str("ENV A=$A$A\n");
    }
    assert!(error(&doubling).contains("substitution makes a word longer than 256 KiB"));
    let mut wide = String::from("FROM scratch\nENV A=");
    wide.push_str(&"x".repeat(60_000));
    wide.push('\n');
    for i in 0..300 {
        wide.push_str(&format!("ENV B{i}=$A$A$A$A\n"));
    }
    assert!(error(&wide).contains("substitution produced more than 16 MiB"));
    let ports = "FROM scratch\nEXPOSE 0-65535/tcp\nEXPOSE 1/udp\n";
    assert!(error(ports).contains("more than 65536 exposed ports"));
}

#[test]
fn workdir_resolves_like_docker() {
    assert_eq!(resolve_workdir("", "app"), "/app");
    assert_eq!(resolve_workdir("/a", "b/../c/./d"), "/a/c/d");
    assert_eq!(resolve_workdir("/a", "/x//y/"), "/x/y");
    assert_eq!(resolve_workdir("/a", "../../.."), "/");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text, Path::new("C"), &[]);
    }

    #[test]
    fn parse_never_panics_on_containerfile_like_text(
        lines in proptest::collection::vec(
            "(FROM|COPY|ADD|ENV|ARG|LABEL|CMD|ENTRYPOINT|EXPOSE|WORKDIR|USER|STOPSIGNAL|RUN|#|# escape=|) ?[-a-z0-9 =:/\\[\\]\"'`\\\\${}+?#,.\t]{0,30}",
            0..12,
        ),
        args in proptest::collection::vec(("[A-Z]{1,2}", "[a-z${}]{0,4}"), 0..3),
    ) {
        let text = lines.join("\n");
        let args: Vec<(String, String)> = args;
        if let Err(e) = parse(&text, Path::new("C"), &args) {
            let shown = e.to_string();
            prop_assert!(!shown.contains('\n'), "{}", shown);
            prop_assert!(e.line >= 1, "{}", shown);
        }
    }
}
