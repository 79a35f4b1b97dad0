//! Loading and validating the configuration.

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_apply_without_file_or_environment() {
    let config = Config::load_from(None, &env(&[])).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.access_token_ttl, 900);
    assert_eq!(config.argon2, HashParams::default());
    assert!(config
        .effective_database_url()
        .starts_with("sqlite://./warden-data/warden.db"));
}

#[test]
fn environment_overrides_the_file_and_unknown_keys_are_warned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9000\"\naccess_token_ttl = 600\nbogus = 1\n",
    )
    .unwrap();
    let config = Config::load_from(
        Some(&path),
        &env(&[
            ("WARDEN_ACCESS_TOKEN_TTL", "300"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("WARDEN_NOPE", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(config.access_token_ttl, 300);
    assert_eq!(config.redacted()["database_url"], "postgres://u:***@h/db");
    assert!(config.warnings.iter().any(|w| w.contains("bogus")));
    assert!(config.warnings.iter().any(|w| w.contains("WARDEN_NOPE")));
}

#[test]
fn secrets_are_never_displayed() {
    let config = Config::load_from(
        None,
        &env(&[
            ("WARDEN_ADMIN_PASSWORD", "hunter2-hunter2"),
            ("WARDEN_MASTER_KEY", "abc"),
        ]),
    )
    .unwrap();
    let shown = config.redacted().to_string();
    assert!(!shown.contains("hunter2"));
    assert!(shown.contains("(set)"));
}

#[test]
fn out_of_range_values_are_refused_with_every_problem() {
    let err = Config::load_from(
        None,
        &env(&[
            ("WARDEN_ACCESS_TOKEN_TTL", "5"),
            ("WARDEN_LISTEN", "nowhere"),
        ]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("access_token_ttl") && text.contains("listen"),
        "{text}"
    );
}

#[test]
fn unknown_keys_are_warned_once_with_the_nearest_known_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, "acess_token_ttl = 60\ntotally_unrelated = 1\n").unwrap();
    let config = Config::load_from(Some(&path), &env(&[("WARDEN_LISTN", "x")])).unwrap();
    let warned = |needle: &str| {
        config
            .warnings
            .iter()
            .filter(|w| w.contains(needle))
            .count()
    };
    assert_eq!(
        warned("`acess_token_ttl` ignored; did you mean `access_token_ttl`?"),
        1
    );
    assert_eq!(
        warned("WARDEN_LISTN ignored; did you mean WARDEN_LISTEN?"),
        1
    );
    assert_eq!(warned("`totally_unrelated` ignored"), 1);
    assert_eq!(warned("did you mean"), 2, "{:?}", config.warnings);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(nearest_key("listen"), Some("listen"));
}

#[test]
fn the_sign_in_theme_and_second_factor_policy_are_read_and_checked() {
    let config = Config::load_from(
        None,
        &env(&[
            ("WARDEN_SIGN_IN_PRODUCT_NAME", "Acme Login"),
            ("WARDEN_SIGN_IN_ACCENT_COLOR", "#FFAA00"),
            ("WARDEN_REQUIRE_SECOND_FACTOR", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(config.theme.product_name, "Acme Login");
    assert_eq!(config.theme.accent_color, "#ffaa00");
    assert!(config.require_second_factor);
    let err = Config::load_from(
        None,
        &env(&[
            ("WARDEN_SIGN_IN_ACCENT_COLOR", "red}body{display:none"),
            ("WARDEN_SIGN_IN_LOGO_URL", "javascript:alert(1)"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sign_in_accent_color") || err.contains("sign_in_logo_url"),
        "{err}"
    );
}
