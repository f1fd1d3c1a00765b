//! Bounded property tests (a few seconds): the `WWW-Authenticate` challenge parser and the
//! reference grammar never panic on any input, and what they accept round-trips.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn challenge_parser_takes_any_text(s in "\\PC{0,80}|[ ,=\"\\\\a-zA-Z\u{e9}\u{1F600}]{0,60}") {
        for c in crate::auth::parse_challenges(&s) {
            let _ = (c.realm(), c.service(), c.scopes());
        }
    }

    #[test]
    fn quoted_challenge_params_round_trip(
        realm in "[ -~]{0,40}",
        service in "[a-z0-9.,: ]{0,20}",
    ) {
        let q = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let header = format!(r#"Bearer realm="{}",service="{}""#, q(&realm), q(&service));
        let c = crate::auth::parse_challenges(&header);
        prop_assert_eq!(c.len(), 1);
        prop_assert_eq!(c[0].realm(), Some(realm.as_str()));
        prop_assert_eq!(c[0].service(), Some(service.as_str()));
    }

    #[test]
    fn reference_parser_takes_any_text(s in "\\PC{0,80}|[a-z0-9.:/@_-]{0,80}") {
        if let Ok(r) = crate::reference::Reference::parse(&s) {
            // what parses prints back to something that parses to the same
            let again = crate::reference::Reference::parse(&r.to_string()).unwrap();
            prop_assert_eq!(again, r);
        }
    }

    #[test]
    fn well_formed_references_parse(
        host in "[a-z][a-z0-9]{0,10}(\\.[a-z0-9]{1,8}){0,2}(:[1-9][0-9]{0,3})?",
        path in "[a-z0-9]{1,8}([._-][a-z0-9]{1,5}){0,2}(/[a-z0-9]{1,8}){0,3}",
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
    ) {
        let host = if host.contains('.') || host.contains(':') { host } else { format!("{host}.io") };
        let r = crate::reference::Reference::parse(&format!("{host}/{path}:{tag}")).unwrap();
        prop_assert_eq!(r.registry.as_str(), host.as_str());
        prop_assert_eq!(r.repository.as_str(), path.as_str());
        prop_assert_eq!(r.tag.as_deref(), Some(tag.as_str()));
    }
}
