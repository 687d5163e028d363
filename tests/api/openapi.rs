use crate::helpers::TestApp;

/// The committed document must be exactly what the binary serves.
/// Regenerate with `cargo run -- openapi > openapi/openapi.json`.
#[actix_web::test]
async fn committed_openapi_matches_the_served_document() {
    let app = TestApp::sqlite().await;
    let served = app.get("/api-docs/openapi.json").send().await;
    assert_eq!(served.status, 200);
    let served = served.json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json exists")).unwrap();
    assert!(served == committed, "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`");
    assert_eq!(served["openapi"], "3.1.0");
}

#[actix_web::test]
async fn every_route_is_documented_with_its_errors() {
    let doc = serde_json::to_value(crm_api::app::openapi_doc()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/me",
        "/v1/api-tokens",
        "/v1/api-tokens/{id}",
        "/v1/account",
        "/v1/account/transfer-ownership",
        "/v1/users",
        "/v1/users/{id}",
        "/v1/users/bulk",
        "/v1/roles",
        "/v1/users/{id}/offices",
        "/v1/users/{id}/offices/{office_id}",
        "/v1/offices",
        "/v1/offices/{id}",
        "/v1/audit",
        "/v1/account/sso",
        "/v1/account/scim-tokens",
        "/v1/account/scim-tokens/{id}",
        "/scim/v2/Users",
        "/scim/v2/Users/{id}",
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/ResourceTypes",
        "/scim/v2/Schemas",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(expected), "{expected} missing from the document");
    }
    let mut public = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, resp) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    // SCIM answers its own error shape (RFC 7644 §3.12).
                    let scim = path.starts_with("/scim/") && resp["content"]["application/scim+json"].is_object();
                    assert!(
                        scim || resp["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} has no problem+json body"
                    );
                }
            }
            // Every operation says whether it needs a token: `[]` for the public ones.
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{method} {path} has no security"));
            if security.is_empty() {
                public.push(format!("{} {path}", method.to_uppercase()));
            } else {
                assert!(responses.contains_key("401"), "{method} {path} is secured but documents no 401");
            }
            assert!(op["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path} has no description");
        }
    }
    public.sort();
    assert_eq!(
        public,
        [
            "GET /healthz",
            "GET /readyz",
            "GET /scim/v2/ResourceTypes",
            "GET /scim/v2/ResourceTypes/{id}",
            "GET /scim/v2/Schemas",
            "GET /scim/v2/Schemas/{id}",
            "GET /scim/v2/ServiceProviderConfig",
            "GET /v1/auth/sso/callback",
            "GET /v1/auth/sso/start",
            "POST /v1/auth/login",
            "POST /v1/auth/refresh",
            "POST /v1/auth/signup",
            "POST /v1/auth/sso/exchange"
        ]
    );
}

/// `ContactOut` is serialized untagged; the document makes it a `oneOf` discriminated by
/// `access` whose branches each allow only the levels mapped to them.
#[actix_web::test]
async fn contact_union_is_discriminated_by_access() {
    let doc = serde_json::to_value(crm_api::app::openapi_doc()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let union = &schemas["ContactOut"];
    assert_eq!(union["discriminator"]["propertyName"], "access");
    let mapping = union["discriminator"]["mapping"].as_object().unwrap();
    let mut levels: Vec<_> = mapping.keys().cloned().collect();
    let mut all: Vec<_> =
        schemas["Level"]["enum"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect();
    levels.sort();
    all.sort();
    assert_eq!(levels, all, "every access level maps to a contact shape");
    for target in mapping.values() {
        assert!(union["oneOf"].as_array().unwrap().iter().any(|branch| branch["$ref"] == *target), "{target}");
        let name = target.as_str().unwrap().strip_prefix("#/components/schemas/").unwrap();
        let mut allowed: Vec<_> = schemas[name]["properties"]["access"]["enum"].as_array().unwrap().clone();
        let mut mapped: Vec<_> =
            mapping.iter().filter(|(_, t)| *t == target).map(|(l, _)| serde_json::json!(l)).collect();
        allowed.sort_by_key(|v| v.to_string());
        mapped.sort_by_key(|v| v.to_string());
        assert_eq!(allowed, mapped, "{name}.access allows exactly the levels mapped to it");
    }
    for name in schemas.as_object().unwrap().keys() {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric()) && name != "BTreeMap", "{name} is no type name");
    }
}

#[actix_web::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::sqlite().await;
    let page = app.get("/swagger-ui/").send().await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("swagger-ui"), "{}", page.text());
    let redirect = app.get("/swagger-ui").send().await;
    assert!(matches!(redirect.status, 301 | 302 | 307 | 308));
    let init = app.get("/swagger-ui/swagger-initializer.js").send().await;
    assert_eq!(init.status, 200);
    assert!(init.text().contains("/api-docs/openapi.json"));
}
