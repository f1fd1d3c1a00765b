//! What can go wrong on the wire, as one readable line each, and the CLI's exit codes.
//!
//! A registry answers failures with `{"errors":[{"code","message","detail"}]}`; [`Error::Registry`]
//! turns that into `push 127.0.0.1:5000/user/penguinshell: denied: requested access to the
//! resource is denied (401 UNAUTHORIZED)`. No error message ever carries a secret.

use serde::Deserialize;
use std::path::PathBuf;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: any other failure (a bad source image, a local file that cannot be written).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: bad usage (unknown flag, bad reference, missing argument).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the registry or its token server refused our credentials or access.
pub const EXIT_AUTH: u8 = 3;
/// Exit code: the registry failed, answered something wrong, or could not be reached.
pub const EXIT_REGISTRY: u8 = 4;

/// One entry of a registry's error JSON.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RegistryErrorEntry {
    /// The registry's code, e.g. `UNAUTHORIZED`, `DENIED`, `BLOB_UNKNOWN`.
    #[serde(default)]
    pub code: String,
    /// The human message.
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
struct RegistryErrorBody {
    #[serde(default)]
    errors: Vec<RegistryErrorEntry>,
}

/// Parses a registry's error body; anything else gives no entries.
pub fn parse_registry_errors(body: &[u8]) -> Vec<RegistryErrorEntry> {
    serde_json::from_slice::<RegistryErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

/// Everything pusher's library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference that does not parse.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),

    /// The registry (or its token server) refused us: wrong credentials or no access.
    #[error("{op} {reference}: denied: {message}")]
    Auth {
        /// The operation (`push`, `pull`, `inspect`).
        op: &'static str,
        /// The reference, e.g. `127.0.0.1:5000/user/penguinshell`.
        reference: String,
        /// What was refused, with the status.
        message: String,
    },

    /// The registry answered with an error status.
    #[error("{op} {reference}: {message} ({status}{code})")]
    Registry {
        /// The operation (`push`, `pull`, `inspect`).
        op: &'static str,
        /// The reference.
        reference: String,
        /// The HTTP status.
        status: u16,
        /// ` CODE` of the first registry error, or empty.
        code: String,
        /// The registry's message, or what we were doing.
        message: String,
    },

    /// The registry could not be reached, stopped answering, or a download failed, after the
    /// bounded retries.
    #[error("{op} {reference}: {step}: {message}")]
    Network {
        /// The operation.
        op: &'static str,
        /// The reference.
        reference: String,
        /// The protocol step, e.g. `get the blob sha256:…`.
        step: String,
        /// The URL we tried (no secrets in it).
        url: String,
        /// What failed (`cannot reach URL: …` when no connection was made), with the URL and
        /// how many attempts.
        message: String,
    },

    /// The registry (or a download) gave a digest other than ours.
    #[error("{op} {reference}: digest mismatch for {what}: expected {expected}, got {got}")]
    DigestMismatch {
        /// The operation.
        op: &'static str,
        /// The reference.
        reference: String,
        /// What was checked (`blob`, `manifest`).
        what: String,
        /// Our digest.
        expected: String,
        /// The digest we got.
        got: String,
    },

    /// The registry answered something we do not understand.
    #[error("{op} {reference}: {message}")]
    Protocol {
        /// The operation.
        op: &'static str,
        /// The reference.
        reference: String,
        /// What was wrong with the answer.
        message: String,
    },

    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// The image to push could not be read.
    #[error("cannot read image {source_name}")]
    Image {
        /// The SOURCE argument.
        source_name: String,
        /// Why: packer's error, kept whole.
        #[source]
        source: packer::Error,
    },

    /// The image could not be written (a layout, an archive).
    #[error("cannot write image {target}")]
    Write {
        /// The DESTINATION argument.
        target: String,
        /// Why: packer's error, kept whole.
        #[source]
        source: packer::Error,
    },

    /// Credentials could not be found or read (config.json, a credential helper).
    #[error("credentials: {0}")]
    Credentials(String),
}

impl Error {
    /// The CLI exit code for this error (see the `EXIT_*` constants).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Reference(_) => EXIT_USAGE,
            Error::Auth { .. } | Error::Credentials(_) => EXIT_AUTH,
            Error::Registry { .. }
            | Error::Network { .. }
            | Error::DigestMismatch { .. }
            | Error::Protocol { .. } => EXIT_REGISTRY,
            Error::Io { .. } | Error::Image { .. } | Error::Write { .. } => EXIT_FAILURE,
        }
    }

    /// Builds the error for an unexpected status, from the registry's error body.
    pub fn from_status(
        op: &'static str,
        reference: &str,
        status: u16,
        body: &[u8],
        doing: &str,
    ) -> Error {
        let entries = parse_registry_errors(body);
        let code = entries
            .first()
            .map(|e| format!(" {}", e.code))
            .unwrap_or_default();
        let code = escape_remote(&code);
        let message = match entries.first() {
            Some(e) if !e.message.is_empty() => escape_remote(&e.message),
            Some(e) => escape_remote(&e.code.to_lowercase().replace('_', " ")),
            None if status == 405 => {
                format!("{doing}: the registry does not allow this method (a read-only mirror?)")
            }
            None => format!("{doing} failed"),
        };
        let message = if status == 405 && !entries.is_empty() {
            format!(
                "{doing}: the registry does not allow this method (a read-only mirror?): {message}"
            )
        } else {
            message
        };
        if status == 401 || status == 403 {
            return Error::Auth {
                op,
                reference: reference.to_string(),
                message: format!("{message} ({status}{code})"),
            };
        }
        Error::Registry {
            op,
            reference: reference.to_string(),
            status,
            code,
            message,
        }
    }
}

/// Text from a registry (or any remote party) made safe for a terminal and for one line:
/// control characters (newlines and ESC included) and bidirectional overrides become `\xNN` or
/// `\u{NNNN}`, and more than 512 characters are cut with `…`.
pub fn escape_remote(s: &str) -> String {
    const MAX: usize = 512;
    let mut out = String::with_capacity(s.len().min(MAX + 8));
    for (n, c) in s.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() && (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Results of pusher's library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_is_one_line_with_status_and_code() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"requested access to the resource is denied","detail":[{"Type":"repository","Name":"user/penguinshell","Action":"push"}]}]}"#;
        let e = Error::from_status("push", "127.0.0.1:5000/user/penguinshell", 401, body, "x");
        assert_eq!(
            e.to_string(),
            "push 127.0.0.1:5000/user/penguinshell: denied: requested access to the resource is denied (401 UNAUTHORIZED)"
        );
        assert_eq!(e.exit_code(), EXIT_AUTH);
    }

    #[test]
    fn other_statuses_name_the_code() {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#;
        let e = Error::from_status("push", "r/p", 400, body, "push the manifest");
        assert_eq!(
            e.to_string(),
            "push r/p: manifest invalid (400 MANIFEST_INVALID)"
        );
        assert_eq!(e.exit_code(), EXIT_REGISTRY);
        let e = Error::from_status(
            "pull",
            "r/p",
            502,
            b"<html>bad gateway</html>",
            "get the manifest",
        );
        assert_eq!(e.to_string(), "pull r/p: get the manifest failed (502)");
    }

    #[test]
    fn registry_text_is_escaped_to_one_line() {
        let body = "{\"errors\":[{\"code\":\"DENIED\\n\",\"message\":\"no\\u001b[2K\\rpushed ok\\nfake\"}]}";
        let e = Error::from_status("push", "r/p", 400, body.as_bytes(), "x");
        assert_eq!(
            e.to_string(),
            "push r/p: no\\x1b[2K\\x0dpushed ok\\x0afake (400 DENIED\\x0a)"
        );
        assert_eq!(escape_remote("a\u{202e}b\u{85}"), "a\\u{202e}b\\x85");
        assert_eq!(escape_remote(&"x".repeat(600)).chars().count(), 513);
    }

    #[test]
    fn method_not_allowed_says_so() {
        let e = Error::from_status("push", "r/p", 405, b"", "initiate upload");
        assert_eq!(
            e.to_string(),
            "push r/p: initiate upload: the registry does not allow this method (a read-only mirror?) (405)"
        );
        let body = br#"{"errors":[{"code":"UNSUPPORTED","message":"read only"}]}"#;
        let e = Error::from_status("push", "r/p", 405, body, "push the manifest");
        assert_eq!(
            e.to_string(),
            "push r/p: push the manifest: the registry does not allow this method (a read-only mirror?): read only (405 UNSUPPORTED)"
        );
    }
}
