use super::*;

fn compiled(text: &str) -> Option<Statement> {
    let id = PolicyId::new();
    let statements = crate::authz::engine::compile(&id, text).unwrap();
    Statement::compile(id, &statements[0])
}

#[test]
fn the_common_rules_compile() {
    for text in [
        r#"permit(principal, action == Action::"documents:edit", resource) when { resource.owner_id == principal.id };"#,
        r#"forbid(principal, action, resource) when { resource has locked && resource.locked };"#,
        r#"forbid(principal, action == Action::"records:read", resource) when { resource.archived } unless { principal in Role::"admin" };"#,
        r#"permit(principal is User, action in [Action::"a:b", Action::"a:c"], resource in Folder::"f") when { resource.tags.contains("x") && context.time > 5 && resource.name like "r*" };"#,
        r#"forbid(principal, action, resource) unless { resource.account == context.account };"#,
        r#"permit(principal, action, resource) when { if principal has level then principal.level >= 3 else false };"#,
    ] {
        assert!(compiled(text).is_some(), "{text}");
    }
}

#[test]
fn what_only_cedar_evaluates_is_left_to_it() {
    for text in [
        r#"forbid(principal, action, resource) unless { context.ip.isInRange(ip("10.0.0.0/8")) };"#,
        r#"permit(principal, action, resource) when { resource.price > decimal("1.5") };"#,
        r#"permit(principal, action, resource) when { resource.hasTag("x") };"#,
    ] {
        assert!(compiled(text).is_none(), "{text}");
    }
}

#[test]
fn like_matches_as_cedar_does() {
    let pattern = |text: &str| -> Vec<Pattern> {
        text.chars()
            .map(|c| {
                if c == '*' {
                    Pattern::Any
                } else {
                    Pattern::Char(c)
                }
            })
            .collect()
    };
    let cases = [
        ("abc", "abc", true),
        ("abc", "a*", true),
        ("abc", "*c", true),
        ("abc", "*b*", true),
        ("abc", "a*d", false),
        ("", "*", true),
        ("", "", true),
        ("a", "", false),
        ("aaab", "*ab", true),
        ("ab", "a**b", true),
        ("héllo", "h?llo", false),
        ("héllo", "h*llo", true),
    ];
    for (text, pat, expected) in cases {
        assert_eq!(
            eval::like_for_tests(text, &pattern(pat)),
            expected,
            "{text} like {pat}"
        );
    }
}
