//! Proof values. [`Access::require`](super::Access::require) and its siblings do not answer
//! yes or no: on success they hand out a [`Granted`], and every privileged write takes one.
//! Only this wing can make a `Granted`, so a use case that changes something cannot be
//! written without first passing a check, and the store's writes are reached through the
//! proof ([`Granted::store`]), never through `services.store` directly (a test reads the
//! admin wing's source to hold it to that).

use crate::authz::{Access, Caller, Reach};
use crate::ids::{AccountId, ClientKey, UserId};
use crate::services::Services;
use crate::store::Store;

/// What a proof was granted for when it is not a permission: a caller acting on its own
/// profile, sessions or keys.
pub const SELF_SERVICE: &str = "self-service";

/// Who holds a proof, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    System,
    User(UserId),
    Client(ClientKey),
}

/// Proof that an actor passed the check for `permission` in a scope: the permission, the
/// account it holds in (`None`: globally), and who holds it. It cannot be built outside
/// `authz`, cloned or forged; it is consumed by reference by the write it authorizes.
#[derive(Debug, PartialEq, Eq)]
pub struct Granted {
    holder: Holder,
    permission: &'static str,
    account: Option<AccountId>,
}

impl Granted {
    /// The proof for `access`, checked by the caller of this function (always in `authz`).
    pub(super) fn to(
        access: &Access,
        permission: &'static str,
        account: Option<AccountId>,
    ) -> Self {
        let holder = match access {
            Access::System => Holder::System,
            Access::Caller(caller) => Holder::User(caller.user_id),
            Access::Client(client) => Holder::Client(client.client),
        };
        Self {
            holder,
            permission,
            account,
        }
    }

    /// The proof a caller holds over its own things.
    pub(super) fn own(caller: &Caller) -> Self {
        Self {
            holder: Holder::User(caller.user_id),
            permission: SELF_SERVICE,
            account: caller.account,
        }
    }

    /// The permission proven (or [`SELF_SERVICE`]).
    pub fn permission(&self) -> &'static str {
        self.permission
    }

    /// The account the permission was proven in; `None` when it holds globally.
    pub fn account(&self) -> Option<&AccountId> {
        self.account.as_ref()
    }

    /// Where the proof reaches: everywhere when held globally, else its account.
    pub fn reach(&self) -> Reach {
        match self.account {
            None => Reach::All,
            Some(account) => Reach::Account(account),
        }
    }

    /// Who holds the proof, as the audit log names actors (`system`, `user:<id>`,
    /// `client:<key>`).
    pub fn actor(&self) -> String {
        match self.holder {
            Holder::System => "system".into(),
            Holder::User(user) => format!("user:{user}"),
            Holder::Client(client) => format!("client:{client}"),
        }
    }

    /// The store, for the write this proof authorizes.
    pub fn store<'s>(&self, services: &'s Services) -> &'s dyn Store {
        &*services.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's write methods, by name.
    const WRITES: &[&str] = &[
        "insert_",
        "update_",
        "delete_",
        "add_member",
        "remove_member",
        "revoke_api_key",
        "set_password",
        "end_session",
        "end_oldest_sessions",
        "rotate_keys",
    ];

    /// Each `.rs` file under `src/<dir>`, with its text without whitespace.
    fn sources(dir: &str) -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
        let mut found = Vec::new();
        let mut pending = vec![root];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("source folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source");
                    let flat: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    found.push((path.display().to_string(), flat));
                }
            }
        }
        assert!(!found.is_empty(), "no sources under {dir}");
        found
    }

    #[test]
    fn admin_writes_go_through_a_proof() {
        let mut direct = Vec::new();
        let mut proven = 0;
        for (path, flat) in sources("admin") {
            for write in WRITES {
                if flat.contains(&format!("services.store.{write}")) {
                    direct.push(format!("{path}: services.store.{write}…"));
                }
                proven += flat.matches(&format!(".store(services).{write}")).count();
            }
        }
        assert!(
            direct.is_empty(),
            "privileged writes without a proof: {direct:#?}"
        );
        // Not vacuous: the admin wing's writes are found, through their proofs.
        assert!(proven >= 25, "only {proven} writes through a proof found");
    }

    #[test]
    fn only_authz_makes_proofs() {
        for dir in ["admin", "oauth", "authn", "identity", "audit", "tokens"] {
            for (path, flat) in sources(dir) {
                assert!(
                    !flat.contains("Granted::to(")
                        && !flat.contains("Granted::own(")
                        && !flat.contains("Granted{"),
                    "{path} makes a proof itself"
                );
            }
        }
    }

    #[test]
    fn a_proof_names_its_holder_scope_and_permission() {
        let system = Access::System;
        let account = AccountId::new();
        let granted = system
            .require_in("warden.users:update", &account)
            .expect("the system holds everything");
        assert_eq!(granted.permission(), "warden.users:update");
        assert_eq!(granted.account(), Some(&account));
        assert_eq!(granted.reach(), Reach::Account(account));
        assert_eq!(granted.actor(), "system");
        let global = system.require("warden.keys:rotate", None).expect("global");
        assert_eq!(global.reach(), Reach::All);
    }
}
