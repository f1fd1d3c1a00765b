//! Parsing `WWW-Authenticate` challenges: `Basic realm="..."` and
//! `Bearer realm="...",service="...",scope="repository:x:pull,push"` (quoted commas included).

/// The scheme a registry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `Basic`: send the username and password with every request.
    Basic,
    /// `Bearer`: get a token from `realm` first.
    Bearer,
    /// Anything else (unsupported).
    Other(String),
}

/// One parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme.
    pub scheme: Scheme,
    /// The parameters, in order, names lowercased.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `realm`, for Bearer the token server's URL.
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// `service`, the audience the token is for.
    pub fn service(&self) -> Option<&str> {
        self.param("service")
    }

    /// `scope`, which may name several space-separated scopes.
    pub fn scopes(&self) -> Vec<String> {
        self.param("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Parses every challenge in a `WWW-Authenticate` value.
///
/// The grammar is `scheme [param=value|param="quoted, value"]*` with challenges separated by
/// commas too, so a token that is not followed by `=` starts a new challenge.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws_commas = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    loop {
        skip_ws_commas(&mut i);
        if i >= b.len() {
            break;
        }
        // a token
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b',' | b'=') {
            i += 1;
        }
        let token = &header[start..i];
        // look past spaces for '='
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            // a parameter of the current challenge
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    // copy one UTF-8 char
                    let ch = header[i..].chars().next().unwrap_or('\u{fffd}');
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1; // closing quote
                v
            } else {
                let vs = i;
                while i < b.len() && b[i] != b',' && b[i] != b' ' {
                    i += 1;
                }
                header[vs..i].to_string()
            };
            if let Some(last) = out.last_mut() {
                last.params.push((token.to_ascii_lowercase(), value));
            }
        } else if token.is_empty() {
            i += 1;
        } else {
            let scheme = match token.to_ascii_lowercase().as_str() {
                "basic" => Scheme::Basic,
                "bearer" => Scheme::Bearer,
                _ => Scheme::Other(token.to_string()),
            };
            out.push(Challenge {
                scheme,
                params: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row<'a> = (&'a str, Scheme, &'a [(&'a str, &'a str)]);

    #[test]
    fn challenges_table() {
        let table: &[Row<'_>] = &[
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
                Scheme::Bearer,
                &[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:samalba/my-app:pull,push"),
                ],
            ),
            (
                r#"Basic realm="Registry Realm""#,
                Scheme::Basic,
                &[("realm", "Registry Realm")],
            ),
            (
                r#"bearer Realm=http://127.0.0.1:1234/token, Service="a,b" ,error="insufficient_scope""#,
                Scheme::Bearer,
                &[
                    ("realm", "http://127.0.0.1:1234/token"),
                    ("service", "a,b"),
                    ("error", "insufficient_scope"),
                ],
            ),
            (
                r#"Bearer realm="x",scope="repository:a:pull repository:b:pull,push""#,
                Scheme::Bearer,
                &[
                    ("realm", "x"),
                    ("scope", "repository:a:pull repository:b:pull,push"),
                ],
            ),
            (
                r#"Bearer realm = "with \"quote\"""#,
                Scheme::Bearer,
                &[("realm", r#"with "quote""#)],
            ),
            ("Basic", Scheme::Basic, &[]),
        ];
        for (header, scheme, params) in table {
            let c = parse_challenges(header);
            assert_eq!(c.len(), 1, "{header}: {c:?}");
            assert_eq!(&c[0].scheme, scheme, "{header}");
            let got: Vec<(&str, &str)> = c[0]
                .params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(&got, params, "{header}");
        }
    }

    #[test]
    fn several_challenges_in_one_header() {
        let c = parse_challenges(r#"Basic realm="r", Bearer realm="t",service="s""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, Scheme::Basic);
        assert_eq!(c[1].scheme, Scheme::Bearer);
        assert_eq!(c[1].service(), Some("s"));
        let c = parse_challenges(r#"Bearer realm="x",scope="repository:a:pull repository:b:push""#);
        assert_eq!(
            c[0].scopes(),
            vec!["repository:a:pull", "repository:b:push"]
        );
    }
}
