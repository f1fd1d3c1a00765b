//! Authentication with a registry: the challenge it answers `GET /v2/` with, the credentials we
//! hold, and the token we exchange them for.

pub mod challenge;
pub mod credentials;
pub mod token;

pub use challenge::{Challenge, Scheme, parse_challenges};
pub use credentials::{Credential, Origin, Secret, find_credentials};
pub use token::{Token, basic_header, fetch_token};

/// The scope to ask a token for: `repository:NAME:ACTIONS`.
pub fn repository_scope(repository: &str, actions: &str) -> String {
    format!("repository:{repository}:{actions}")
}
