//! Property-based fuzzing (proptest) of what reads untrusted input: token parsing and
//! verification, permission parsing, Cedar policy intake, and decision requests. CI runs the
//! default number of cases; a longer run is
//! `PROPTEST_CASES=200000 cargo test --release -p warden-core --test fuzz`.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on the first surprise"
)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use warden_core::authz::check::CheckRequest;
use warden_core::authz::engine::{compile, Principal, Query, Snapshot, Subject};
use warden_core::authz::permission::Permission;
use warden_core::crypto::MasterKey;
use warden_core::ids::{PolicyId, UserId};
use warden_core::time::Timestamp;
use warden_core::tokens::{keys_generate, AccessClaims, KeySet, SigningAlgorithm, TokenVerifier};

struct Keys {
    verifier: TokenVerifier,
    keys: KeySet,
    token: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let master = MasterKey::generate();
        let now = Timestamp::now();
        let record = keys_generate(SigningAlgorithm::EdDSA, &master, now, now).unwrap();
        let keys = KeySet::open(&[record], &master, now).unwrap();
        let verifier = TokenVerifier::new("http://warden", "warden");
        let claims = AccessClaims {
            iss: "http://warden".into(),
            sub: UserId::new().to_string(),
            aud: "warden".into(),
            exp: now.seconds() + 900,
            iat: now.seconds(),
            nbf: now.seconds(),
            jti: "j".into(),
            client_id: "warden".into(),
            sid: "s".into(),
            acct: None,
            roles: vec!["editor".into()],
            scope: None,
            narrowed: false,
            permissions: None,
        };
        let token = verifier.sign(&keys, &claims).unwrap();
        Keys {
            verifier,
            keys,
            token,
        }
    })
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_verifies_and_never_panics(text in ".{0,200}") {
        let k = keys();
        prop_assert!(k.verifier.verify(&k.keys, &text, Timestamp::now()).is_err());
    }

    #[test]
    fn any_change_to_a_real_token_is_refused(position in 0usize..400, byte in any::<u8>()) {
        let k = keys();
        let mut bytes = k.token.clone().into_bytes();
        let i = position % bytes.len();
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            // Base64url has unused low bits in its last character: a change there may decode
            // to the same bytes. Anything else must fail.
            if let Ok(claims) = k.verifier.verify(&k.keys, &text, Timestamp::now()) {
                let original = k.verifier.verify(&k.keys, &k.token, Timestamp::now()).unwrap();
                prop_assert_eq!(claims, original);
            }
        }
    }

    #[test]
    fn arbitrary_headers_and_claims_never_verify(header in json_value(), claims in json_value(), sig in ".{0,90}") {
        let k = keys();
        let text = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(sig)
        );
        prop_assert!(k.verifier.verify(&k.keys, &text, Timestamp::now()).is_err());
    }

    #[test]
    fn permissions_parse_or_refuse_and_grant_themselves(text in "[a-z*:._-]{0,20}|.{0,20}") {
        if let Ok(p) = Permission::parse(&text) {
            prop_assert!(p.grants(&p));
            prop_assert_eq!(Permission::parse(p.as_str()).unwrap(), p);
        }
    }

    #[test]
    fn policy_intake_never_panics(text in ".{0,300}") {
        let _ = compile(&PolicyId::new(), &text);
    }

    #[test]
    fn policy_like_text_never_panics(
        effect in prop_oneof![Just("permit"), Just("forbid"), Just("perm1t")],
        body in "[a-z. =!<>&|\"():;{}\\[\\]0-9_]{0,80}",
    ) {
        let _ = compile(&PolicyId::new(), &format!("{effect}(principal, action, resource) when {{ {body} }};"));
    }

    #[test]
    fn decision_requests_never_panic(body in json_value(), attributes in json_value(), context in json_value()) {
        // Arbitrary bodies are refused or accepted by the parser, never a panic.
        let _ = serde_json::from_value::<CheckRequest>(body);
        let (snapshot, user) = snapshot_with_a_policy();
        let attributes = match attributes { Value::Object(m) => m, _ => Map::new() };
        let context = match context { Value::Object(m) => m, _ => Map::new() };
        let resource = warden_core::authz::engine::Resource {
            kind: "document".into(),
            id: "1".into(),
            attributes,
            parents: Vec::new(),
        };
        let principal = Principal { subject: Subject::User(*user), account: None, session: None, scoped_to: None };
        let _ = snapshot.decide(&principal, &Query { action: "documents:read", resource: &resource, context: &context, ip: None, time: 0, principal_attributes: None });
    }
}

fn snapshot_with_a_policy() -> &'static (Snapshot, UserId) {
    static SNAPSHOT: OnceLock<(Snapshot, UserId)> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let id = PolicyId::new();
        let policy = warden_core::authz::engine::CompiledPolicy::new(
            id,
            None,
            true,
            compile(
                &id,
                r#"forbid(principal, action, resource) when { resource.owner_id == principal.id || context.x.y > 3 };"#,
            )
            .unwrap(),
        );
        let user = UserId::new();
        let mut snapshot = Snapshot {
            policies: std::sync::Arc::new(warden_core::authz::engine::PolicyIndex::build([
                std::sync::Arc::new(policy),
            ])),
            ..Snapshot::default()
        };
        let entry = warden_core::authz::engine::UserEntry::build(true, "f@x.io", &Map::new(), []);
        snapshot.users = snapshot.users.with([(user, Some(entry))]);
        (snapshot, user)
    })
}
