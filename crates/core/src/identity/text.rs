//! Identifier safety: canonical forms of emails, usernames and names, so that `Admin`,
//! `ａｄｍｉｎ` and a decomposed `é` can never become second identities.

use std::fmt;

use serde::{Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

pub use crate::error::{clip, clip_to};

/// True for characters that render invisibly or reorder text: controls, bidi overrides and
/// isolates, zero-width characters, joiners, variation selectors and tag characters.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5
            | 0x180B..=0x180F | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F
            | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB
            | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// NFKC, then full case folding, then NFKC again (Unicode's NFKC_Casefold, closely enough
/// for identifiers), after rejecting invisible characters.
pub fn canonicalize(text: &str) -> Result<String, String> {
    if let Some(c) = text.chars().find(|c| is_invisible(*c)) {
        return Err(format!(
            "must not contain the invisible or control character U+{:04X}",
            c as u32
        ));
    }
    let folded = caseless::default_case_fold_str(&text.nfkc().collect::<String>());
    Ok(folded.nfkc().collect::<String>().trim().to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The canonical text, as stored.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps text read back from the store, which was validated when written.
            pub fn from_stored(text: String) -> Self {
                Self(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

text_type!(
    /// An email address in canonical form (NFKC, case folded).
    Email
);
text_type!(
    /// A username in canonical form (NFKC, case folded).
    Username
);
text_type!(
    /// An account's unique slug: `[a-z0-9][a-z0-9-]*`, at most 63 characters.
    AccountName
);
text_type!(
    /// A role's name: `[a-z0-9][a-z0-9_.-]*`, at most 64 characters, unique within its scope.
    RoleName
);

impl Email {
    /// Canonicalizes and validates an email address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let canonical = canonicalize(text)?;
        if canonical.len() > 254 {
            return Err("must be at most 254 bytes".into());
        }
        let Some((local, domain)) = canonical.rsplit_once('@') else {
            return Err(format!("`{}` is not an email address", clip(text)));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !"\"(),:;<>@[\\]".contains(c));
        let domain_ok = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().count() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(canonical))
        } else {
            Err(format!("`{}` is not an email address", clip(text)))
        }
    }
}

impl Username {
    /// Canonicalizes and validates a username: letters, digits, `.`, `_`, `-`, 1 to 64
    /// characters, starting with a letter or digit; never an `@`, so it cannot pose as an email.
    pub fn parse(text: &str) -> Result<Self, String> {
        let canonical = canonicalize(text)?;
        let count = canonical.chars().count();
        let valid = (1..=64).contains(&count)
            && canonical.chars().next().is_some_and(char::is_alphanumeric)
            && canonical
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(Self(canonical))
        } else {
            Err(
                "must be 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
                    .into(),
            )
        }
    }
}

fn is_slug(text: &str, max: usize, extra: &str) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && text.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || extra.as_bytes().contains(&b)
        })
}

impl AccountName {
    /// Validates a slug; an id-shaped name is refused so `account=<id|name>` stays unambiguous.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !is_slug(text, 63, "") || crate::ids::AccountId::parse(text).is_ok() {
            return Err(
                "must be 1 to 63 lowercase letters, digits or `-`, starting with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(text.to_owned()))
    }
}

impl RoleName {
    /// Validates a role name.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !is_slug(text, 64, "_.") {
            return Err("must be 1 to 64 lowercase letters, digits, `_`, `.` or `-`, starting with a letter or digit".into());
        }
        Ok(Self(text.to_owned()))
    }
}

/// Validates free text shown to people (display names, descriptions): NFC, no invisible
/// characters, at most `max` characters.
pub fn display_text(text: &str, max: usize) -> Result<String, String> {
    if let Some(c) = text.chars().find(|c| is_invisible(*c)) {
        return Err(format!(
            "must not contain the invisible or control character U+{:04X}",
            c as u32
        ));
    }
    let text: String = text.nfc().collect();
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fullwidth_and_case_variants_fold_to_one_username() {
        let plain = Username::parse("admin").unwrap();
        assert_eq!(Username::parse("Admin").unwrap(), plain);
        assert_eq!(Username::parse("ａｄｍｉｎ").unwrap(), plain);
    }

    #[test]
    fn decomposed_and_composed_accents_are_one_email() {
        let composed = Email::parse("caf\u{e9}@example.com").unwrap();
        let decomposed = Email::parse("cafe\u{301}@Example.COM").unwrap();
        assert_eq!(composed, decomposed);
    }

    #[test]
    fn invisible_characters_are_refused() {
        assert!(Username::parse("ad\u{200b}min").is_err());
        assert!(Email::parse("a\u{202e}b@example.com").is_err());
        assert!(Username::parse("a\u{0}b").is_err());
    }

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        assert!(Email::parse("admin@localhost").is_ok());
        for bad in ["", "no-at", "@x.io", "a@", "a b@x.io", "a@-x.io", "a@x..io"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_cannot_look_like_emails() {
        assert!(Username::parse("a@b").is_err());
    }

    #[test]
    fn account_names_are_slugs_and_never_ids() {
        assert!(AccountName::parse("acme-1").is_ok());
        assert!(AccountName::parse("Acme").is_err());
        assert!(AccountName::parse("0190a5b0-0000-7000-8000-000000000000").is_err());
    }
}
