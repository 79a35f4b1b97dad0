//! The guard's verification per request against a live Warden (in process, on loopback):
//! cold (a new guard: RFC 8414 metadata and the JWKS fetched, then the token verified) and
//! cached (the keys held), beside a bare `jsonwebtoken` verification of the same token with
//! a key decoded once: what a hand-rolled verifier that checks only the signature and the
//! registered claims would pay.
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[expect(
    dead_code,
    reason = "the benchmark uses part of the live tests' support"
)]
#[path = "../tests/live/support.rs"]
mod support;

use criterion::Criterion;
use serde_json::Value;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (warden, token, jwks) = rt.block_on(async {
        let warden = support::Warden::start().await;
        let token = warden
            .login(support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
            .await
            .access;
        let jwks: Value = warden
            .http
            .get(warden.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (warden, token, jwks)
    });
    let mut c = Criterion::default().configure_from_args();

    let guard = warden.guard().build().unwrap();
    rt.block_on(guard.load_keys()).unwrap();
    c.bench_function("guard verify, keys cached", |b| {
        b.iter(|| rt.block_on(guard.verify(&token)).unwrap());
    });
    c.bench_function("guard verify, cold (metadata + JWKS fetched)", |b| {
        b.iter(|| {
            let fresh = warden.guard().build().unwrap();
            rt.block_on(fresh.verify(&token)).unwrap()
        });
    });

    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"].as_str() == header.kid.as_deref())
            .unwrap()
            .clone(),
    )
    .unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["warden"]);
    validation.set_issuer(&[warden.base.as_str()]);
    c.bench_function("bare jsonwebtoken decode (key decoded once)", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap());
    });
    c.final_summary();
}
