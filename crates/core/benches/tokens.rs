//! Token signing and verification per algorithm: the cost every login pays (sign) and every
//! protected request pays (verify).
#![expect(
    missing_docs,
    reason = "criterion macros generate undocumented functions"
)]

use criterion::{criterion_group, criterion_main, Criterion};
use warden_core::crypto::MasterKey;
use warden_core::time::Timestamp;
use warden_core::tokens::{keys_generate, AccessClaims, KeySet, SigningAlgorithm, TokenVerifier};

fn claims(now: Timestamp) -> AccessClaims {
    AccessClaims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "0190a5b0-7d3e-7c4a-9b1e-2f3a4b5c6d7e".into(),
        aud: "warden".into(),
        exp: now.seconds() + 900,
        iat: now.seconds(),
        nbf: now.seconds(),
        jti: "0190a5b0-7d3e-7c4a-9b1e-2f3a4b5c6d7f".into(),
        client_id: "warden".into(),
        sid: "0190a5b0-7d3e-7c4a-9b1e-2f3a4b5c6d80".into(),
        acct: Some("0190a5b0-7d3e-7c4a-9b1e-2f3a4b5c6d81".into()),
        roles: vec!["editor".into(), "viewer".into()],
        scope: None,
        narrowed: false,
        permissions: None,
    }
}

fn bench(c: &mut Criterion) {
    let master = MasterKey::generate();
    let now = Timestamp::now();
    let verifier = TokenVerifier::new("http://127.0.0.1:8080", "warden");
    for alg in [
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::ES256,
        SigningAlgorithm::RS256,
    ] {
        let Ok(record) = keys_generate(alg, &master, now, now) else {
            panic!("key generation failed")
        };
        let Ok(keys) = KeySet::open(&[record], &master, now) else {
            panic!("key set failed")
        };
        let claims = claims(now);
        let Ok(token) = verifier.sign(&keys, &claims) else {
            panic!("signing failed")
        };
        c.bench_function(&format!("sign/{alg}"), |b| {
            b.iter(|| verifier.sign(&keys, std::hint::black_box(&claims)))
        });
        c.bench_function(&format!("verify/{alg}"), |b| {
            b.iter(|| verifier.verify(&keys, std::hint::black_box(&token), now))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
