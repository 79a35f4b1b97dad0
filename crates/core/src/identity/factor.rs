//! TOTP second factors (RFC 6238, through `totp-rs`): enrolment with a first code, ten
//! one-time recovery codes shown once and kept hashed, checks where no code is accepted twice
//! (the store accepts a time step only when it is newer than every step accepted before) and
//! guesses run into the same escalating lock as passwords, and an administrator's reset.

use totp_rs::{Algorithm, TOTP};

use crate::authz::permission::builtin as p;
use crate::authz::Access;
use crate::crypto::{random_bytes, sha256_b64};
use crate::error::DomainError;
use crate::identity::attempts::{identifier_key, lock_after, LOCK_WINDOW_MS};
use crate::ids::UserId;
use crate::model::{Account, User};
use crate::services::Services;
use crate::time::Timestamp;

/// How long an enrolment may wait for its first code, milliseconds.
const ENROLMENT_MS: i64 = 15 * 60 * 1000;

/// What names one enrolment without showing its secret: the SHA-256 of the key, so a page that
/// showed one key confirms only that one.
pub fn fingerprint(enrolment: &Enrolment) -> String {
    sha256_b64(format!("totp-key:{}", enrolment.secret).as_bytes())
}

/// Seconds per time step.
const STEP_SECONDS: u64 = 30;
/// How many recovery codes an enrolment gives.
const RECOVERY_CODES: usize = 10;

/// What enrolment answers: the URI an authenticator app reads (as a QR code or pasted) and
/// the secret in base32 for typing by hand.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enrolment {
    /// `otpauth://totp/…`.
    pub otpauth_uri: String,
    /// The secret, base32.
    pub secret: String,
}

/// The recovery codes of a confirmed enrolment, shown this once.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    /// Ten codes, each usable once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// `POST /v1/users/me/totp/confirm`: the first code the app shows.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotp {
    /// The six-digit code.
    pub code: String,
}

/// The outcome of a second-factor check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// A TOTP code, accepted (its step can never be used again).
    Totp,
    /// A recovery code, now used up.
    Recovery,
    /// Wrong, reused, or no factor.
    Refused,
    /// Too many wrong codes: nothing was compared.
    Locked,
}

impl Checked {
    /// The RFC 8176 `amr` values of a password plus this factor.
    pub fn amr(self) -> &'static str {
        match self {
            Self::Totp => "pwd otp mfa",
            _ => "pwd mfa",
        }
    }
}

fn context(user: &UserId) -> String {
    format!("totp-secret:{user}")
}

fn generator(secret: Vec<u8>, account: &str) -> Result<TOTP, DomainError> {
    // The label may not hold a colon; an email never does, but be safe.
    let label = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret,
        Some("Warden".into()),
        label,
    )
    .map_err(|err| DomainError::Internal(format!("totp: {err}")))
}

/// The time step `code` belongs to (the current one or one either side), if any.
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = now / STEP_SECONDS;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| {
            crate::crypto::same_secret(totp.generate(s * STEP_SECONDS).as_bytes(), code.as_bytes())
        })
        .and_then(|s| i64::try_from(s).ok())
}

fn now_seconds() -> u64 {
    u64::try_from(Timestamp::now().seconds()).unwrap_or(0)
}

/// Whether the user has a confirmed second factor.
pub async fn enrolled(services: &Services, user: &UserId) -> Result<bool, DomainError> {
    Ok(services
        .store
        .totp_factor(user)
        .await?
        .is_some_and(|f| f.confirmed_at.is_some()))
}

/// Whether signing in needs a second factor: the user has one, the server requires one, or the
/// account signed in to does.
pub async fn required(
    services: &Services,
    user: &UserId,
    account: Option<&Account>,
) -> Result<bool, DomainError> {
    if services.settings.require_second_factor || account.is_some_and(|a| a.require_second_factor) {
        return Ok(true);
    }
    enrolled(services, user).await
}

/// Whether a browser sign-in needs a second factor: the user has one, the server requires one,
/// or an account they belong to does (the browser session may enter any of them).
pub async fn required_for_sign_in(services: &Services, user: &UserId) -> Result<bool, DomainError> {
    if required(services, user, None).await? {
        return Ok(true);
    }
    for account in services.store.memberships(user).await? {
        if services
            .store
            .account(&account)
            .await?
            .is_some_and(|a| a.require_second_factor)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Starts enrolment: a new 160-bit secret, kept sealed and pending until [`confirm`]. A user
/// who already has a confirmed factor is refused (an administrator resets it first), so a
/// stolen session cannot replace someone's factor.
pub async fn enrol(services: &Services, user: &User) -> Result<Enrolment, DomainError> {
    let secret = random_bytes::<20>().to_vec();
    let totp = generator(secret.clone(), user.email.as_str())?;
    let sealed = services.sealer.seal(&context(&user.id), &secret)?;
    if !services
        .store
        .put_pending_totp(&user.id, &sealed, Timestamp::now())
        .await?
    {
        return Err(DomainError::Conflict(
            "a second factor is already set up; an administrator can reset it".into(),
        ));
    }
    Ok(Enrolment {
        otpauth_uri: totp.get_url(),
        secret: totp.get_secret_base32(),
    })
}

/// The enrolment a user has started and not confirmed, shown again (after a wrong first code).
pub async fn pending(services: &Services, user: &User) -> Result<Option<Enrolment>, DomainError> {
    let Some(factor) = services
        .store
        .totp_factor(&user.id)
        .await?
        .filter(|f| f.confirmed_at.is_none())
    else {
        return Ok(None);
    };
    let secret = services
        .sealer
        .open(&context(&user.id), &factor.secret_sealed)?;
    let totp = generator(secret, user.email.as_str())?;
    Ok(Some(Enrolment {
        otpauth_uri: totp.get_url(),
        secret: totp.get_secret_base32(),
    }))
}

/// Confirms a pending enrolment with a first code from the app: the factor is then required at
/// every sign-in, and ten recovery codes are answered, once.
///
/// With `expected` (a [`fingerprint`]), only the enrolment whose key was shown is confirmed: one
/// started elsewhere meanwhile is not.
pub async fn confirm(
    services: &Services,
    user: &User,
    code: &str,
    expected: Option<&str>,
) -> Result<RecoveryCodes, DomainError> {
    let factor = services
        .store
        .totp_factor(&user.id)
        .await?
        .filter(|f| f.confirmed_at.is_none())
        .ok_or_else(|| {
            DomainError::Conflict(
                "no enrolment is pending: start one with POST /v1/users/me/totp".into(),
            )
        })?;
    if factor.created_at.millis() < Timestamp::now().millis() - ENROLMENT_MS {
        return Err(DomainError::Conflict(
            "the setup has expired; start again".into(),
        ));
    }
    let key = identifier_key(&format!("second-factor:{}", user.id));
    if !reserve(services, &key).await? {
        return Err(DomainError::Busy(60));
    }
    let secret = services
        .sealer
        .open(&context(&user.id), &factor.secret_sealed)?;
    let totp = generator(secret, user.email.as_str())?;
    if let Some(expected) = expected {
        let shown = Enrolment {
            otpauth_uri: String::new(),
            secret: totp.get_secret_base32(),
        };
        if !crate::crypto::same_secret(fingerprint(&shown).as_bytes(), expected.as_bytes()) {
            return Err(DomainError::Conflict(
                "the setup was started again elsewhere; start again".into(),
            ));
        }
    }
    let step = matching_step(&totp, code, now_seconds()).ok_or_else(|| {
        DomainError::invalid(
            "code",
            "the code is not correct; use the current code from the app",
        )
    })?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    if !services
        .store
        .confirm_totp(
            &user.id,
            &factor.secret_sealed,
            step,
            Timestamp::now(),
            &hashes,
        )
        .await?
    {
        return Err(DomainError::Conflict(
            "the enrolment changed meanwhile; start again".into(),
        ));
    }
    services.store.clear_login_failures(&key).await?;
    crate::audit::note_durably(
        services,
        format!("user:{}", user.id),
        "second_factor.enabled",
        None,
        format!("user:{}", user.id),
        serde_json::json!({ "method": "totp" }),
    )
    .await;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// Checks a TOTP code or a recovery code of a confirmed factor, under the user's lock.
pub async fn check(services: &Services, user: &User, code: &str) -> Result<Checked, DomainError> {
    let Some(factor) = services
        .store
        .totp_factor(&user.id)
        .await?
        .filter(|f| f.confirmed_at.is_some())
    else {
        return Ok(Checked::Refused);
    };
    let key = identifier_key(&format!("second-factor:{}", user.id));
    if !reserve(services, &key).await? {
        return Ok(Checked::Locked);
    }
    let secret = services
        .sealer
        .open(&context(&user.id), &factor.secret_sealed)?;
    let totp = generator(secret, user.email.as_str())?;
    let outcome = match matching_step(&totp, code, now_seconds()) {
        Some(step) if services.store.use_totp_step(&user.id, step).await? => Checked::Totp,
        Some(_) => Checked::Refused,
        None => {
            let normalized = normalize_recovery(code);
            if !normalized.is_empty()
                && services
                    .store
                    .use_recovery_code(&user.id, &recovery_hash(&normalized), Timestamp::now())
                    .await?
            {
                Checked::Recovery
            } else {
                Checked::Refused
            }
        }
    };
    if outcome != Checked::Refused {
        services.store.clear_login_failures(&key).await?;
    }
    if outcome == Checked::Recovery {
        crate::audit::note_durably(
            services,
            format!("user:{}", user.id),
            "second_factor.recovery_code_used",
            None,
            format!("user:{}", user.id),
            serde_json::json!({}),
        )
        .await;
    }
    Ok(outcome)
}

/// An administrator removes a user's second factor (a lost phone); audited. The user then signs
/// in with the password alone, unless a policy requires a factor, and enrols again.
pub async fn reset(services: &Services, actor: &Access, id: &UserId) -> Result<(), DomainError> {
    crate::admin::visible_user(services, actor, p::USERS_UPDATE, id).await?;
    let granted = actor.require_reach(p::USERS_UPDATE)?;
    crate::admin::guard_target(services, actor, p::USERS_UPDATE, id, true).await?;
    if !granted.store(services).delete_totp(id).await? {
        return Err(DomainError::NotFound("second factor"));
    }
    crate::audit::note_durably(
        services,
        granted.actor(),
        "second_factor.reset",
        None,
        format!("user:{id}"),
        serde_json::json!({}),
    )
    .await;
    Ok(())
}

/// Counts a code attempt under `key`; `false` while the key is locked.
async fn reserve(services: &Services, key: &str) -> Result<bool, DomainError> {
    Ok(services
        .store
        .reserve_login_attempt(
            &[key.to_owned()],
            Timestamp::now().millis(),
            LOCK_WINDOW_MS,
            lock_after,
        )
        .await?)
}

/// A recovery code: ten characters of a 32-letter alphabet without look-alikes (50 bits), as
/// two groups of five.
fn recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";
    let bytes = random_bytes::<10>();
    let text: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 32]))
        .collect();
    format!("{}-{}", &text[..5], &text[5..])
}

/// A typed recovery code, lowercased, spaces and dashes taken out.
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn recovery_hash(code: &str) -> String {
    sha256_b64(format!("recovery:{}", normalize_recovery(code)).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let totp = generator(vec![7; 20], "a@x.io").unwrap_or_else(|e| panic!("{e}"));
        let now = 1_000_000_000;
        let code = totp.generate(now);
        assert_eq!(matching_step(&totp, &code, now), Some((now / 30) as i64));
        assert!(
            matching_step(&totp, &code, now + 30).is_some(),
            "one step of skew"
        );
        assert_eq!(matching_step(&totp, &code, now + 90), None);
        assert_eq!(matching_step(&totp, "12345", now), None);
        assert_eq!(matching_step(&totp, "abcdef", now), None);
    }

    #[test]
    fn recovery_codes_are_typed_loosely_and_hashed() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(&code), recovery_hash(&recovery_code()));
    }
}
