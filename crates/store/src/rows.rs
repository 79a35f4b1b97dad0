//! Reading rows back into domain types. Stored values were validated when written; a row that
//! no longer parses is reported as a backend failure rather than trusted.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use warden_core::authz::permission::Permission;
use warden_core::identity::{AccountName, Email, RoleName, Username};
use warden_core::ids::{AccountId, RoleId, UserId};
use warden_core::model::{Account, Assignment, Membership, Role, Status, User, UserRecord};
use warden_core::time::Timestamp;
use warden_core::StoreError;

use crate::error::on_error;

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col).map_err(on_error)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col).map_err(on_error)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col).map_err(on_error)
}

pub(crate) fn time(row: &AnyRow, col: &str) -> Result<Timestamp, StoreError> {
    int(row, col).map(Timestamp::from_millis)
}

pub(crate) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
        .map(|t| t.map(Timestamp::from_millis))
        .map_err(on_error)
}

fn corrupt(what: &str) -> impl Fn(String) -> StoreError + '_ {
    move |err| StoreError::Backend(format!("stored {what} does not parse: {err}"))
}

pub(crate) fn parse<T>(
    row: &AnyRow,
    col: &str,
    parser: impl Fn(&str) -> Result<T, String>,
) -> Result<T, StoreError> {
    parser(&text(row, col)?).map_err(corrupt(col))
}

pub(crate) fn opt_parse<T>(
    row: &AnyRow,
    col: &str,
    parser: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, StoreError> {
    opt_text(row, col)?
        .map(|t| parser(&t).map_err(corrupt(col)))
        .transpose()
}

pub(crate) fn json_object(row: &AnyRow, col: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(&text(row, col)?).map_err(|err| corrupt(col)(err.to_string()))
}

/// The id of a global role or assignment scope: '' for global.
pub(crate) fn scope_of(account: Option<&AccountId>) -> String {
    account.map(AccountId::to_string).unwrap_or_default()
}

pub(crate) const USER_COLUMNS: &str =
    "id, email, username, external_id, display_name, phone, status, attributes, password_hash, created_at, updated_at, last_login_at";

pub(crate) fn user(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user: User {
            id: parse(row, "id", UserId::parse)?,
            email: Email::from_stored(text(row, "email")?),
            username: opt_text(row, "username")?.map(Username::from_stored),
            external_id: opt_text(row, "external_id")?,
            display_name: text(row, "display_name")?,
            phone: opt_text(row, "phone")?,
            status: parse(row, "status", Status::parse)?,
            attributes: json_object(row, "attributes")?,
            created_at: time(row, "created_at")?,
            updated_at: time(row, "updated_at")?,
            last_login_at: opt_time(row, "last_login_at")?,
        },
        password_hash: opt_text(row, "password_hash")?,
    })
}

pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, name, display_name, description, status, attributes, allowed_ips, policy_schema, require_second_factor, created_at, updated_at, tokens_valid_after";

pub(crate) fn account(row: &AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: parse(row, "id", AccountId::parse)?,
        name: AccountName::from_stored(text(row, "name")?),
        display_name: text(row, "display_name")?,
        description: text(row, "description")?,
        status: parse(row, "status", Status::parse)?,
        attributes: json_object(row, "attributes")?,
        allowed_ips: {
            let texts: Vec<String> = serde_json::from_str(&text(row, "allowed_ips")?)
                .map_err(|err| corrupt("allowed_ips")(err.to_string()))?;
            texts
                .iter()
                .map(|c| warden_core::net::Cidr::parse(c))
                .collect::<Result<_, _>>()
                .map_err(corrupt("allowed_ips"))?
        },
        policy_schema: opt_text(row, "policy_schema")?,
        require_second_factor: int(row, "require_second_factor")? != 0,
        tokens_valid_after: opt_time(row, "tokens_valid_after")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn membership(row: &AnyRow) -> Result<Membership, StoreError> {
    Ok(Membership {
        account_id: parse(row, "account_id", AccountId::parse)?,
        user_id: parse(row, "user_id", UserId::parse)?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const ROLE_COLUMNS: &str =
    "id, account_id, name, description, permissions, builtin, created_at, updated_at";

/// A role without its inheritance edges (filled in by the caller).
pub(crate) fn role(row: &AnyRow) -> Result<Role, StoreError> {
    let permissions: Vec<String> = serde_json::from_str(&text(row, "permissions")?)
        .map_err(|err| corrupt("permissions")(err.to_string()))?;
    Ok(Role {
        id: parse(row, "id", RoleId::parse)?,
        account_id: opt_parse(row, "account_id", AccountId::parse)?,
        name: RoleName::from_stored(text(row, "name")?),
        description: text(row, "description")?,
        permissions: permissions
            .iter()
            .map(|p| Permission::parse(p))
            .collect::<Result<_, _>>()
            .map_err(corrupt("permissions"))?,
        inherits: Vec::new(),
        builtin: int(row, "builtin")? != 0,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn assignment(row: &AnyRow) -> Result<Assignment, StoreError> {
    Ok(Assignment {
        user_id: parse(row, "user_id", UserId::parse)?,
        role_id: parse(row, "role_id", RoleId::parse)?,
        account_id: opt_parse(row, "account_id", AccountId::parse)?,
        created_at: time(row, "created_at")?,
    })
}
