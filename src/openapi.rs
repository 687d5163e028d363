//! The OpenAPI document: paths register themselves through utoipa-actix-web; this adds
//! the security scheme and gives every error response its problem+json body.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Doc, RefOr};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "crm-api",
        description = "Multi-tenant CRM backend. Every list, count, search, export and join is \
scoped in SQL by the caller's account, role, contact ownership, office grants and privileges. \
Errors are `application/problem+json` (RFC 9457); 422 adds `errors` (field -> messages). \
Ids are UUIDv7 strings; a foreign or hidden id answers 404 exactly like a missing one. \
Lists are keyset-paginated: pass `next_cursor` back as `cursor`.",
        license(name = "MIT")
    ),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "auth", description = "Signup, login, token refresh and logout"),
        (name = "me", description = "The caller's own profile"),
        (name = "users", description = "Users, roles and privileges"),
        (name = "offices", description = "Offices and per-office permissions"),
        (name = "account", description = "The tenant and its settings"),
        (name = "api-tokens", description = "Personal API tokens"),
        (name = "contacts", description = "Contacts, scoped by SPEC §2 in every query"),
        (name = "organizations", description = "Companies; focused users see those with a contact they own"),
        (name = "deals", description = "Deals, visible with view on their contact"),
        (name = "actions", description = "Next actions on contacts"),
        (name = "notifications", description = "The caller's notifications"),
        (name = "audit", description = "Audit log"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// Runs after the paths are collected.
pub fn finish(doc: &mut Doc) {
    SecurityAndProblems.modify(doc);
}

struct SecurityAndProblems;

impl Modify for SecurityAndProblems {
    fn modify(&self, doc: &mut Doc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or crm_pat_ API token").build(),
            ),
        );
        let problem =
            ContentBuilder::new().schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem")))).build();
        for item in doc.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                for (status, response) in op.responses.responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(resp)) = (is_error, response) {
                        if resp.content.is_empty() {
                            resp.content.insert("application/problem+json".into(), problem.clone());
                        }
                    }
                }
                // Any request can meet an unreachable database or an internal error.
                for (code, text) in [("500", "Unexpected server error"), ("503", "Database unavailable")] {
                    if !op.responses.responses.contains_key(code) {
                        let resp = utoipa::openapi::ResponseBuilder::new()
                            .description(text)
                            .content("application/problem+json", problem.clone())
                            .build();
                        op.responses.responses.insert(code.into(), RefOr::T(resp));
                    }
                }
            }
        }
    }
}
