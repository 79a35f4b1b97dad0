//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{
    accounts, api_keys, audit, check, clients, factors, keys, me, oauth, policies, resources,
    revocations, roles, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Warden", description = "Authentication and authorization service: OAuth2 token endpoint, JWKS, and the admin and self-service API."),
    paths(
        oauth::token, oauth::revoke, oauth::introspect, oauth::jwks, oauth::metadata,
        me::register, me::get, me::update, me::change_password,
        factors::enrol, factors::confirm, factors::reset, me::list_consents, me::withdraw_consent,
        me::list_sessions, me::end_other_sessions, me::end_session, users::list_sessions, users::end_sessions,
        users::create, users::list, users::get, users::update, users::delete,
        users::grant_role, users::list_roles, users::revoke_role,
        accounts::create, accounts::list, accounts::get, accounts::update, accounts::delete,
        accounts::add_member, accounts::list_members, accounts::remove_member,
        keys::list, keys::rotate, revocations::list, audit::list, api_keys::create, api_keys::list, api_keys::revoke,
        clients::create, clients::list, clients::get, clients::update, clients::rotate_secret, clients::create_key, clients::list_keys, clients::revoke_key, clients::delete,
        roles::create, roles::list, roles::get, roles::update, roles::delete,
        policies::create, policies::list, policies::get, policies::update, policies::delete,
        resources::put, resources::bulk, resources::get, resources::delete, resources::list,
        check::check, check::batch, check::of_user, check::mine, crate::forward_auth::forward_auth,
        crate::signin::authorize, crate::signin::logout::page, crate::signin::userinfo, crate::signin::discovery,
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Renders the document with `issuer` as its server.
pub fn document(issuer: &str) -> String {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![utoipa::openapi::Server::new(issuer)]);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_json().unwrap_or_else(|_| "{}".to_owned())
}
