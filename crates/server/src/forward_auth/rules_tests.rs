//! Route rules: normalization, matching and compilation.

use super::*;

fn rules(toml_text: &str) -> ForwardAuth {
    let raw: RawForwardAuth = toml::from_str(toml_text).expect("toml");
    ForwardAuth::compile(raw).expect("valid rules")
}

#[test]
fn paths_normalize_to_what_an_upstream_serves() {
    for (given, expected) in [
        ("/admin", "/admin"),
        ("/%61dmin", "/admin"),
        ("//admin//", "/admin"),
        ("/docs/42?x=/admin", "/docs/42"),
        ("/", "/"),
    ] {
        assert_eq!(normalize_path(given).as_deref(), Ok(expected), "{given}");
    }
    // Either direction of a dot-segment trick (into /admin, or out of it into /public),
    // and the separators upstreams disagree on, are refused.
    for bad in [
        "/..",
        "/a/../admin",
        "/./admin",
        "/admin/x/../../public/y",
        "/a/%2e%2e/admin",
        "/admin/x/..%2F..%2Fpublic/y",
        "/a\\..\\admin",
        "/admin;x/",
        "/%zz",
        "/%25%61",
        "/%00",
        "/%ff",
        "admin",
        "",
    ] {
        assert!(normalize_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_first_matching_rule_wins_and_the_default_denies() {
    let auth = rules(
        r#"
        [[rules]]
        path = "/public/**"
        allow = "public"
        [[rules]]
        host = "*.example.com"
        methods = ["GET"]
        path = "/documents/{id}"
        permission = "documents:read"
        resource = "document"
        [[rules]]
        path = "/admin/**"
        role = "admin"
        [[rules]]
        path = "/files/*.png"
        allow = "authenticated"
        "#,
    );
    let hit = auth.decide("GET", "app.example.com:8443", "/documents/42");
    assert_eq!(hit.rule, Some(2));
    assert_eq!(hit.resource_id, "42");
    assert_eq!(
        *hit.outcome,
        Outcome::Permission {
            action: "documents:read".into(),
            kind: "document".into()
        }
    );
    // The apex, another method, or another domain do not match rule 2.
    assert_eq!(
        auth.decide("GET", "example.com", "/documents/42").rule,
        None
    );
    assert_eq!(
        auth.decide("POST", "a.example.com", "/documents/42").rule,
        None
    );
    assert_eq!(
        auth.decide("GET", "a.example.com.evil", "/documents/42")
            .rule,
        None
    );
    assert_eq!(auth.decide("GET", "x", "/public").rule, Some(1));
    assert_eq!(auth.decide("GET", "x", "/public/a/b").rule, Some(1));
    assert_eq!(auth.decide("DELETE", "x", "/admin").rule, Some(3));
    assert_eq!(auth.decide("GET", "x", "/files/cat.png").rule, Some(4));
    assert_eq!(auth.decide("GET", "x", "/files/cat.png/x").rule, None);
    let fallback = auth.decide("GET", "x", "/other");
    assert_eq!((fallback.rule, fallback.outcome), (None, &Outcome::Deny));
}

#[test]
fn bad_rules_are_refused_with_every_problem() {
    let raw: RawForwardAuth = toml::from_str(
        r#"
        default = "maybe"
        [[rules]]
        path = "admin"
        role = "admin"
        [[rules]]
        path = "/x"
        role = "a"
        permission = "b:c"
        [[rules]]
        path = "/y"
        permission = "docs:*"
        [[rules]]
        path = "/z/**x"
        allow = "public"
        "#,
    )
    .expect("toml");
    let problems = ForwardAuth::compile(raw).expect_err("refused");
    let text = problems.join("\n");
    for expected in ["default", "rule 1", "rule 2", "rule 3", "rule 4"] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
    // A misspelt key is an error, not a warning: a typo must not open a route.
    assert!(
        toml::from_str::<RawForwardAuth>("[[rules]]\npath = \"/\"\npermision = \"a:b\"\n").is_err()
    );
}
