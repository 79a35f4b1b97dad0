//! Unit tests of actors: narrowed tokens and credential self-service.

use super::*;
use crate::identity::RoleName;
use crate::model::Role;
use crate::time::Timestamp;

fn role(name: &str) -> Role {
    Role {
        id: RoleId::new(),
        account_id: None,
        name: RoleName::parse(name).unwrap(),
        description: String::new(),
        permissions: Vec::new(),
        inherits: Vec::new(),
        builtin: false,
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
    }
}

fn caller(scoped_to: Option<&[&str]>) -> Access {
    Access::Caller(Caller {
        user_id: UserId::new(),
        session_id: SessionId::new(),
        account: None,
        api_key: None,
        scoped_to: scoped_to.map(|names| names.iter().map(|n| (*n).to_owned()).collect()),
        global: PermissionSet::new(),
        local: PermissionSet::new(),
        snapshot: None,
        audit: None,
    })
}

#[test]
fn a_narrowed_actor_carries_only_the_roles_it_names() {
    let (member, vip) = (role("member"), role("vip"));
    let ids = (member.id, vip.id);
    let graph = RoleGraph::new(vec![member, vip]);
    let narrowed = caller(Some(&["member"]));
    assert!(narrowed.require_carries(&graph, &[ids.0]).is_ok());
    assert!(matches!(
        narrowed.require_carries(&graph, &[ids.0, ids.1]),
        Err(DomainError::Forbidden(_))
    ));
    assert!(caller(None).require_carries(&graph, &[ids.1]).is_ok());
    assert!(Access::System.require_carries(&graph, &[ids.1]).is_ok());
}

#[test]
fn an_api_key_manages_keys_only_through_an_explicit_permission() {
    let Access::Caller(mut login) = caller(None) else {
        unreachable!()
    };
    assert!(
        require_self_service(&login, crate::authz::permission::builtin::API_KEYS_DELETE).is_ok()
    );
    login.api_key = Some(crate::ids::ApiKeyId::new());
    let key = login;
    assert!(matches!(
        require_self_service(&key, crate::authz::permission::builtin::API_KEYS_DELETE),
        Err(DomainError::Forbidden(_))
    ));
    let mut granted = key.clone();
    granted.local = [Permission::known("warden.api_keys:*")]
        .into_iter()
        .collect();
    assert!(
        require_self_service(&granted, crate::authz::permission::builtin::API_KEYS_DELETE).is_ok()
    );
    assert!(require_self_service(&granted, crate::authz::permission::builtin::USERS_READ).is_err());
}
