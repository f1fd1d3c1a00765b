//! The command-line flags every registry operation shares: credentials, TLS and `--trace`.
//!
//! Not part of the library: each program includes this file (`#[path]`), the `pusher` binary
//! and `cargo xtask image --push`, so both take the same flags and find credentials the same
//! way: the flags, then `PUSHER_USERNAME`/`PUSHER_PASSWORD`, then the Docker config (see
//! `pusher::auth::find_credentials`).

use pusher::auth::{Credential, Secret, find_credentials};
use pusher::client::ClientOptions;
use pusher::reference::Reference;
use pusher::transport::TransportOptions;
use std::io::Read as _;
use std::path::PathBuf;

/// `--username`, `--password-stdin`, `--insecure`, `--ca-file`, `--trace`, `--timeout`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnectArgs {
    /// Username (the password is read from stdin with --password-stdin)
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Allow plain HTTP to any registry (localhost and 127.0.0.0/8 always may)
    #[arg(long)]
    pub insecure: bool,
    /// Extra root certificates (PEM) to trust
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Print every HTTP exchange on stderr, secrets redacted
    #[arg(long)]
    pub trace: bool,
    /// Give up on a connection, an answer or a body transfer after this many seconds without
    /// progress (then the usual retries apply)
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub timeout: u64,
}

/// What can be wrong with the flags themselves.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// A flag combination that makes no sense: a usage error.
    #[error("{0}")]
    Usage(String),
    /// `--password-stdin` could not read stdin.
    #[error("cannot read the password from stdin: {0}")]
    Stdin(#[source] std::io::Error),
}

impl ConnectArgs {
    /// The credential given on the command line, reading the password from stdin when asked.
    /// Call it before long work, so a bad combination fails at once.
    pub fn credential_from_flags(&self) -> Result<Option<Credential>, FlagError> {
        match (&self.username, self.password_stdin) {
            (Some(username), true) => {
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .map_err(FlagError::Stdin)?;
                Ok(Some(Credential::UserPassword {
                    username: username.clone(),
                    password: Secret::new(password.trim_end_matches(['\n', '\r'])),
                }))
            }
            (None, true) => Err(FlagError::Usage("--password-stdin needs --username".into())),
            (Some(_), false) => Err(FlagError::Usage("--username needs --password-stdin".into())),
            (None, false) => Ok(None),
        }
    }

    /// How to connect to `reference`: `flags` (from [`Self::credential_from_flags`]) or the
    /// credentials found for it, the TLS roots, `--insecure` and `--trace`.
    pub fn client_options(
        &self,
        reference: &Reference,
        flags: Option<Credential>,
    ) -> pusher::Result<ClientOptions> {
        let found = find_credentials(reference, flags)?;
        if self.trace {
            // the library hands its trace lines to the program: print them on stderr
            pusher::transport::trace::set_sink(|text| eprint!("{text}"));
            match &found {
                Some((_, origin)) => eprintln!("* credentials from {origin}"),
                None => eprintln!("* no credentials: anonymous"),
            }
        }
        Ok(ClientOptions {
            transport: TransportOptions {
                ca_file: self.ca_file.clone(),
                trace: self.trace,
                timeout: (self.timeout > 0).then(|| std::time::Duration::from_secs(self.timeout)),
                ..Default::default()
            },
            insecure: self.insecure,
            credential: found.map(|(c, _)| c),
        })
    }
}
