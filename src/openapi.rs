//! The OpenAPI document: paths register themselves through utoipa-actix-web; this adds
//! the security scheme, gives every error response its problem+json body, marks the
//! public operations, names the components as generated clients will show them and makes
//! the contact union a discriminated one. `checks/openapi/run.sh` lints the result.

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Discriminator, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Doc, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::access::Level;
use crate::contacts::model::{ContactBasic, ContactGone, ContactOut, ContactView};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "crm-api",
        description = "Multi-tenant CRM backend. Every list, count, search, export and join is \
scoped in SQL by the caller's account, role, contact ownership, office grants and privileges. \
Errors are `application/problem+json` (RFC 9457); 422 adds `errors` (field -> messages). \
Ids are UUIDv7 strings; a foreign or hidden id answers 404 exactly like a missing one. \
Lists are keyset-paginated: pass `next_cursor` back as `cursor`.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "crm-api maintainers")
    ),
    servers((url = "/", description = "This service")),
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
        (name = "notes", description = "Notes on contacts, with mentions (SPEC §8)"),
        (name = "calls", description = "Logged calls with contacts, with mentions (SPEC §8)"),
        (name = "custom-fields", description = "Typed custom fields on contacts, deals and organizations (SPEC §9)"),
        (name = "saved-filters", description = "Saved list queries, always run under the runner's access (SPEC §9)"),
        (name = "webhooks", description = "Event subscriptions that act as their creator, signed with Standard Webhooks (SPEC §10)"),
        (name = "sso", description = "Single sign-on (OpenID Connect) configuration and SCIM tokens (SPEC §11)"),
        (name = "scim", description = "SCIM 2.0 provisioning (RFC 7643/7644) with a SCIM token: users, with roles mapped through \
the SSO configuration's role_map. Errors use SCIM's error shape (application/scim+json)."),
        (name = "notifications", description = "The caller's notifications"),
        (name = "audit", description = "Audit log"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// Operations that take no bearer token (no `Actor` or `Caller` extractor). Every other
/// operation declares `security(("bearer" = []))` itself; one that declares neither is
/// left without `security`, which the Redocly lint in CI rejects.
const PUBLIC_OPERATIONS: &[&str] = &[
    "healthz",
    "readyz",
    "signup",
    "login",
    "refresh",
    "sso_start",
    "sso_callback",
    "sso_exchange",
    "get_service_provider_config",
    "list_resource_types",
    "get_resource_type",
    "list_schemas",
    "get_schema",
];

/// Runs after the paths are collected.
pub fn finish(doc: &mut Doc) {
    idempotency_keys(doc);
    SecurityAndProblems.modify(doc);
    for op in doc.paths.paths.values_mut().flat_map(operations) {
        if op.operation_id.as_deref().is_some_and(|id| PUBLIC_OPERATIONS.contains(&id)) {
            op.security = Some(Vec::new());
        }
    }
    client_names(doc);
    discriminate_contacts(doc);
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// `Idempotency-Key` on every creating `POST` (`idempotency::creating_paths`, the same
/// list the middleware serves), with the answers it adds.
fn idempotency_keys(doc: &mut Doc) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{Required, ResponseBuilder};
    let paths = crate::idempotency::creating_paths(doc);
    let string = |max: Option<usize>| -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).min_length(max.map(|_| 1)).max_length(max).into()
    };
    for path in paths {
        let Some(op) = doc.paths.paths.get_mut(&path).and_then(|item| item.post.as_mut()) else { continue };
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes the request safe to retry (SPEC §10): the same key from the same user within 24 hours \
                 answers the first request's status, body, `Location` and `ETag` again (with \
                 `Idempotent-Replayed: true`) without doing the work twice; the same key with another request \
                 (method, path, query or body) is a 422; while the first request with the key is still \
                 running, a 409. Answers 5xx, 401 and 429 are not kept: a retry runs again.",
            ))
            .schema(Some(string(Some(crate::idempotency::KEY_MAX))))
            .build();
        op.parameters.get_or_insert_with(Vec::new).push(parameter);
        for (code, text) in [
            ("400", "Malformed request (also: an `Idempotency-Key` that is not 1 to 255 visible characters)"),
            ("409", "Conflict (also: a request with this `Idempotency-Key` is still running)"),
            ("422", "Validation failed (also: the `Idempotency-Key` was used for another request)"),
        ] {
            match op.responses.responses.get_mut(code) {
                Some(RefOr::T(resp)) => {
                    if !resp.description.contains("Idempotency-Key") {
                        resp.description = format!("{} (also: `Idempotency-Key`, see the parameter)", resp.description);
                    }
                }
                Some(RefOr::Ref(_)) => {}
                None => {
                    op.responses
                        .responses
                        .insert(code.into(), RefOr::T(ResponseBuilder::new().description(text).build()));
                }
            }
        }
        for (code, response) in op.responses.responses.iter_mut() {
            if let (true, RefOr::T(resp)) = (code.starts_with('2'), response) {
                let header = HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                    .description(Some(
                        "Present when this is the stored answer of an earlier request with the same `Idempotency-Key`.",
                    ))
                    .build();
                resp.headers.insert("Idempotent-Replayed".into(), header);
            }
        }
    }
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
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`METRICS_TOKEN` (only `GET /metrics`)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "scim",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("crm_scim_ token from POST /v1/account/scim-tokens")
                    .build(),
            ),
        );
        let problem = ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build();
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
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

/// Component names that read well as type names in generated clients: utoipa names a
/// generic instance after the type and its argument (`Page_ActionView`, here `ActionPage`)
/// and a map alias after the map (`BTreeMap`, here `FieldErrors`). Renames the components,
/// rewrites every `$ref` to them, and lets a page's items refer to their component instead
/// of repeating it inline.
fn client_names(doc: &mut Doc) {
    let Some(components) = doc.components.as_mut() else { return };
    let mut renames = BTreeMap::new();
    for name in components.schemas.keys() {
        let new = match (name.strip_prefix("Page_"), name.as_str()) {
            (Some(item), _) => format!("{}Page", item.strip_suffix("View").unwrap_or(item)),
            (None, "BTreeMap") => "FieldErrors".to_owned(),
            _ => continue,
        };
        if !components.schemas.contains_key(&new) {
            renames.insert(name.clone(), new);
        }
    }
    for (old, new) in &renames {
        if let Some(schema) = components.schemas.remove(old) {
            components.schemas.insert(new.clone(), schema);
        }
    }
    for old in renames.keys() {
        let Some(item) = old.strip_prefix("Page_") else { continue };
        let Some(item_schema) = components.schemas.get(item).cloned() else { continue };
        let Some(RefOr::T(Schema::Object(page))) = components.schemas.get_mut(&renames[old]) else { continue };
        if let Some(RefOr::T(Schema::Array(data))) = page.properties.get_mut("data") {
            if let ArrayItems::RefOrSchema(items) = &mut data.items {
                if **items == item_schema {
                    **items = RefOr::Ref(Ref::from_schema_name(item));
                }
            }
        }
    }
    let prefix = "#/components/schemas/";
    doc_refs(doc, &mut |location| {
        if let Some(new) = location.strip_prefix(prefix).and_then(|name| renames.get(name)) {
            *location = format!("{prefix}{new}");
        }
    });
}

/// The shape `ContactOut::from_row` serializes at each level (`#[serde(untagged)]`, so
/// serde cannot tell utoipa); exhaustive so that a new level must be placed here.
fn contact_shape(level: Level) -> std::borrow::Cow<'static, str> {
    match level {
        Level::Hidden => ContactGone::name(),
        Level::Limited => ContactBasic::name(),
        Level::View | Level::Edit | Level::Manage => ContactView::name(),
    }
}

/// `ContactOut` as a `oneOf` discriminated by `access`, each branch's `access` narrowed
/// to the levels it is served at, so that generated clients narrow a contact on `access`.
fn discriminate_contacts(doc: &mut Doc) {
    let Some(components) = doc.components.as_mut() else { return };
    let mapping: Vec<(&str, String)> =
        Level::ALL.iter().map(|l| (l.as_str(), Ref::from_schema_name(contact_shape(*l)).ref_location)).collect();
    if let Some(RefOr::T(Schema::OneOf(union))) = components.schemas.get_mut(ContactOut::name().as_ref()) {
        union.discriminator = Some(Discriminator::with_mapping("access", mapping));
    }
    for shape in [ContactView::name(), ContactBasic::name(), ContactGone::name()] {
        let levels: Vec<&str> = Level::ALL.iter().filter(|l| contact_shape(**l) == shape).map(|l| l.as_str()).collect();
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(shape.as_ref()) else { continue };
        let Some(access) = object.properties.get_mut("access") else { continue };
        let description = match access {
            RefOr::Ref(r) if !r.description.is_empty() => Some(r.description.clone()),
            RefOr::T(Schema::Object(o)) => o.description.clone(),
            _ => None,
        };
        *access =
            ObjectBuilder::new().schema_type(Type::String).enum_values(Some(levels)).description(description).into();
    }
}

/// Calls `f` on every schema `$ref` (and discriminator mapping) of the document.
fn doc_refs(doc: &mut Doc, f: &mut dyn FnMut(&mut String)) {
    if let Some(components) = doc.components.as_mut() {
        components.schemas.values_mut().for_each(|s| schema_refs(s, f));
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response {
                response_refs(response, f);
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for p in item.parameters.iter_mut().flatten() {
            p.schema.iter_mut().for_each(|s| schema_refs(s, f));
        }
        for op in operations(item) {
            for p in op.parameters.iter_mut().flatten() {
                p.schema.iter_mut().for_each(|s| schema_refs(s, f));
            }
            if let Some(body) = op.request_body.as_mut() {
                body.content.values_mut().flat_map(|c| c.schema.as_mut()).for_each(|s| schema_refs(s, f));
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response_refs(response, f);
                }
            }
        }
    }
}

fn response_refs(response: &mut Response, f: &mut dyn FnMut(&mut String)) {
    response.headers.values_mut().for_each(|h| schema_refs(&mut h.schema, f));
    response.content.values_mut().flat_map(|c| c.schema.as_mut()).for_each(|s| schema_refs(s, f));
}

fn schema_refs(schema: &mut RefOr<Schema>, f: &mut dyn FnMut(&mut String)) {
    match schema {
        RefOr::Ref(r) => f(&mut r.ref_location),
        RefOr::T(s) => inner_refs(s, f),
    }
}

fn inner_refs(schema: &mut Schema, f: &mut dyn FnMut(&mut String)) {
    let (items, discriminator) = match schema {
        Schema::Object(o) => {
            o.properties.values_mut().for_each(|p| schema_refs(p, f));
            if let Some(AdditionalProperties::RefOr(s)) = o.additional_properties.as_deref_mut() {
                schema_refs(s, f);
            }
            if let Some(names) = o.property_names.as_deref_mut() {
                inner_refs(names, f);
            }
            return;
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                schema_refs(items, f);
            }
            a.prefix_items.iter_mut().for_each(|s| inner_refs(s, f));
            return;
        }
        Schema::OneOf(o) => (&mut o.items, &mut o.discriminator),
        Schema::AllOf(o) => (&mut o.items, &mut o.discriminator),
        Schema::AnyOf(o) => (&mut o.items, &mut o.discriminator),
        _ => return,
    };
    items.iter_mut().for_each(|s| schema_refs(s, f));
    for location in discriminator.iter_mut().flat_map(|d| d.mapping.values_mut()) {
        f(location);
    }
}
