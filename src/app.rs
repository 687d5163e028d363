//! Builds the actix application and its OpenAPI document from `Settings`.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{middleware, web, App, HttpMessage, HttpResponse};
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder, TracingLogger};
use utoipa::OpenApi;
use utoipa_actix_web::{scope, AppExt, UtoipaApp};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::db::{self, DbUrl, PoolOptions};
use crate::error::AppError;
use crate::state::AppState;
use crate::{
    account, actions, audit, auth, contacts, custom_fields, deals, health, interactions, notifications, offices,
    openapi, organizations, saved_filters, sso, users, webhooks,
};

/// Everything a running service needs, built once at start-up.
pub fn state(settings: Settings) -> Result<web::Data<AppState>, String> {
    let url = DbUrl::parse(&settings.database_url)?;
    let pool = db::build_pool(
        &url,
        &PoolOptions {
            max_size: settings.db_pool_size.max(1),
            connect_timeout: settings.db_timeout(),
            test_on_check_out: settings.db_test_on_checkout,
        },
    )?;
    let secrets = settings.resolve_jwt_secrets()?;
    let jwt = auth::jwt::JwtKeys::new(&secrets, &settings.jwt_issuer, settings.access_token_ttl_secs);
    // Cursors are sealed with the signing secret: after a rotation, a cursor handed out
    // before it is refused (400) and the client starts its list again.
    let secret = secrets[0].clone();
    let trusted_proxies = crate::http::TrustedProxies::parse(&settings.trusted_proxies)?;
    let sealer = crate::http::Sealer::new(&secret);
    let metrics = crate::metrics::Metrics::new()?;
    let secret_sealers =
        secrets.iter().map(|s| crate::http::Sealer::for_purpose(s, b"crm-api stored secrets v1")).collect();
    Ok(web::Data::new(AppState {
        pool,
        settings,
        jwt,
        trusted_proxies,
        sealer,
        metrics,
        secret_sealers,
        oidc_metadata: Default::default(),
    }))
}

/// Applies pending migrations (start-up and `crm-api migrate`).
pub fn migrate(state: &AppState) -> Result<usize, String> {
    let mut conn = state.pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    db::run_migrations(&mut conn)
}

/// Every route, registered with the OpenAPI document as it is mounted.
fn routes() -> UtoipaApp<
    impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse, Error = actix_web::Error, InitError = ()>,
> {
    App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .service(health::healthz)
        .service(health::readyz)
        .service(crate::metrics::metrics)
        .service(
            scope::scope("/v1")
                .service(auth::routes::signup)
                .service(auth::routes::login)
                .service(auth::routes::refresh)
                .service(auth::routes::logout)
                .service(sso::login::sso_start)
                .service(sso::login::sso_callback)
                .service(sso::login::sso_exchange)
                .service(users::routes::get_me)
                .service(users::routes::patch_me)
                .service(auth::api_tokens::create_api_token)
                .service(auth::api_tokens::list_api_tokens)
                .service(auth::api_tokens::delete_api_token)
                .service(account::routes::get_account)
                .service(account::routes::patch_account)
                .service(account::routes::delete_account)
                .service(account::routes::transfer_ownership)
                .service(sso::config::get_sso)
                .service(sso::config::put_sso)
                .service(sso::config::delete_sso)
                .service(sso::scim_tokens::create_scim_token)
                .service(sso::scim_tokens::list_scim_tokens)
                .service(sso::scim_tokens::delete_scim_token)
                .service(users::routes::list_roles)
                .service(users::routes::list_users)
                .service(users::routes::create_user)
                // Before /users/{id}, so "bulk" is not taken for an id.
                .service(users::routes::bulk_users)
                .service(users::routes::get_user)
                .service(users::routes::patch_user)
                .service(users::routes::delete_user)
                .service(offices::routes::list_user_offices)
                .service(offices::routes::put_membership)
                .service(offices::routes::delete_membership)
                .service(offices::routes::list_offices)
                .service(offices::routes::create_office)
                .service(offices::routes::get_office)
                .service(offices::routes::patch_office)
                .service(offices::routes::delete_office)
                .service(contacts::routes::list_contacts)
                .service(contacts::routes::create_contact)
                // Fixed paths before /contacts/{id}.
                .service(contacts::bulk::bulk_contacts)
                .service(contacts::csv_io::import_contacts)
                .service(contacts::csv_io::export_contacts)
                .service(contacts::routes::get_contact)
                .service(contacts::routes::patch_contact)
                .service(contacts::routes::delete_contact)
                .service(contacts::routes::contact_history)
                .service(contacts::timeline::contact_timeline)
                .service(contacts::routes::contact_access)
                .service(contacts::routes::contact_vcard)
                .service(organizations::routes::list_organizations)
                .service(organizations::routes::create_organization)
                .service(organizations::routes::get_organization)
                .service(organizations::routes::patch_organization)
                .service(organizations::routes::delete_organization)
                .service(deals::routes::list_deals)
                .service(deals::routes::create_deal)
                // Before /deals/{id}.
                .service(deals::routes::pipeline)
                .service(deals::routes::get_deal)
                .service(deals::routes::patch_deal)
                .service(deals::routes::delete_deal)
                .service(deals::routes::add_item)
                .service(deals::routes::patch_item)
                .service(deals::routes::delete_item)
                .service(actions::routes::list_actions)
                .service(actions::routes::create_action)
                .service(actions::routes::get_action)
                .service(actions::routes::patch_action)
                .service(actions::routes::complete_action)
                .service(actions::routes::delete_action)
                .service(interactions::routes::list_notes)
                .service(interactions::routes::create_note)
                .service(interactions::routes::get_note)
                .service(interactions::routes::patch_note)
                .service(interactions::routes::delete_note)
                .service(interactions::routes::list_calls)
                .service(interactions::routes::create_call)
                .service(interactions::routes::get_call)
                .service(interactions::routes::patch_call)
                .service(interactions::routes::delete_call)
                .service(custom_fields::routes::list_custom_fields)
                .service(custom_fields::routes::create_custom_field)
                .service(custom_fields::routes::get_custom_field)
                .service(custom_fields::routes::patch_custom_field)
                .service(custom_fields::routes::delete_custom_field)
                .service(saved_filters::routes::list_saved_filters)
                .service(saved_filters::routes::create_saved_filter)
                .service(saved_filters::routes::get_saved_filter)
                .service(saved_filters::routes::patch_saved_filter)
                .service(saved_filters::routes::delete_saved_filter)
                .service(saved_filters::routes::saved_filter_results)
                .service(audit::routes::activity)
                .service(notifications::routes::list_notifications)
                .service(notifications::routes::read_notification)
                .service(audit::routes::list_audit)
                .service(webhooks::routes::list_webhooks)
                .service(webhooks::routes::create_webhook)
                .service(webhooks::routes::get_webhook)
                .service(webhooks::routes::patch_webhook)
                .service(webhooks::routes::delete_webhook)
                .service(webhooks::routes::rotate_secret)
                .service(webhooks::routes::test_webhook)
                .service(webhooks::routes::list_deliveries)
                .service(webhooks::routes::retry_delivery),
        )
        .service(
            scope::scope("/scim/v2")
                .service(sso::scim::get_service_provider_config)
                .service(sso::scim::list_resource_types)
                .service(sso::scim::get_resource_type)
                .service(sso::scim::list_schemas)
                .service(sso::scim::get_schema)
                .service(sso::scim::scim_list_users)
                // Before /Users/{id}.
                .service(sso::scim::scim_search_users)
                .service(sso::scim::scim_search)
                .service(sso::scim::scim_create_user)
                .service(sso::scim::scim_get_user)
                .service(sso::scim::scim_replace_user)
                .service(sso::scim::scim_patch_user)
                .service(sso::scim::scim_delete_user),
        )
}

/// The document the service serves at `/api-docs/openapi.json`.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes().split_for_parts();
    openapi::finish(&mut doc);
    doc
}

/// The documented paths, each with its `Allow` value and whether it is literal (no
/// `{param}`), literal ones first: what no route took is 405 with `Allow` when its path is
/// documented under other methods, else 404.
#[derive(Clone)]
struct KnownPaths(std::sync::Arc<Vec<(actix_web::dev::ResourceDef, String, bool)>>);

impl KnownPaths {
    fn of(doc: &utoipa::openapi::OpenApi) -> KnownPaths {
        let mut paths: Vec<_> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let allow: Vec<&str> = [
                    (item.get.is_some(), "GET"),
                    (item.post.is_some(), "POST"),
                    (item.put.is_some(), "PUT"),
                    (item.patch.is_some(), "PATCH"),
                    (item.delete.is_some(), "DELETE"),
                ]
                .into_iter()
                .filter_map(|(present, m)| present.then_some(m))
                .collect();
                (actix_web::dev::ResourceDef::new(path.as_str()), allow.join(", "), !path.contains('{'))
            })
            .collect();
        paths.sort_by_key(|(_, _, literal)| !*literal);
        KnownPaths(std::sync::Arc::new(paths))
    }

    /// 405 when `path` is documented under other methods, else 404. `literal_only` is for
    /// a route that matched only through a parameter that did not parse (`PATCH
    /// /v1/contacts/bulk` against `/v1/contacts/{id}`).
    fn error_for(&self, path: &str, literal_only: bool) -> AppError {
        match self.0.iter().find(|(def, _, literal)| (*literal || !literal_only) && def.is_match(path)) {
            Some((_, allow, _)) => AppError::MethodNotAllowed(allow.clone()),
            None => AppError::NotFound,
        }
    }
}

async fn unmatched(req: actix_web::HttpRequest, known: web::Data<KnownPaths>) -> HttpResponse {
    let error = known.error_for(req.path(), false);
    if req.path().starts_with("/scim/") {
        // SCIM clients read SCIM's error shape (RFC 7644 §3.12).
        let allow = match &error {
            AppError::MethodNotAllowed(allow) => Some(allow.as_str()),
            _ => None,
        };
        return sso::scim::unmatched(allow);
    }
    actix_web::ResponseError::error_response(&error)
}

/// The complete application: routes, Swagger UI, extractor error mapping and middleware.
pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, mut doc) = routes().split_for_parts();
    openapi::finish(&mut doc);
    let cors = cors(&state.settings);
    let known = web::Data::new(KnownPaths::of(&doc));
    let creating = web::Data::new(crate::idempotency::CreatingPaths::of(&doc));
    let observer = Observer(state.clone());
    app.app_data(state)
        .app_data(known)
        .app_data(creating)
        .app_data(web::QueryConfig::default().error_handler(|e, _| AppError::BadRequest(e.to_string()).into()))
        .app_data(web::PathConfig::default().error_handler(|_, req| match req.app_data::<web::Data<KnownPaths>>() {
            Some(known) => known.error_for(req.path(), true).into(),
            None => AppError::NotFound.into(),
        }))
        .app_data(web::JsonConfig::default().error_handler(|e, _| AppError::BadRequest(e.to_string()).into()))
        .service(web::redirect("/swagger-ui", "/swagger-ui/"))
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", doc))
        .default_service(web::to(unmatched))
        // `Idempotency-Key` on creating POSTs, after the query string's check.
        .wrap(crate::idempotency::Idempotency)
        // Every query string is checked once, here, before any route reads it.
        .wrap_fn(|req, srv| {
            let call = match crate::http::check_query_string(req.query_string()) {
                Ok(()) => Ok(srv.call(req)),
                // SCIM clients read SCIM's error shape (RFC 7644 §3.12).
                Err(e) if req.path().starts_with("/scim/") => {
                    let e = sso::scim::ScimError::from(e);
                    Err(req.into_response(actix_web::ResponseError::error_response(&e)))
                }
                Err(e) => Err(req.into_response(actix_web::ResponseError::error_response(&e))),
            };
            async move {
                match call {
                    Ok(fut) => fut.await.map(ServiceResponse::map_into_left_body),
                    Err(res) => Ok(res.map_into_right_body()),
                }
            }
        })
        .wrap_fn(|req, srv| {
            let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
            let fut = srv.call(req);
            async move {
                let mut res = fut.await?;
                if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                    res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
                }
                Ok(res)
            }
        })
        .wrap(
            middleware::DefaultHeaders::new()
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::REFERRER_POLICY, "no-referrer")),
        )
        .wrap(cors)
        .wrap(TracingLogger::<RequestSpan>::new())
        // Outside the request span: the access line is not an event inside the span, so the
        // JSON formatter does not parse the span's fields again to embed them (it names the
        // request id itself).
        .wrap_fn(move |req, srv| {
            let started = std::time::Instant::now();
            let method = req.method().clone();
            let observed = observer.clone();
            let fut = srv.call(req);
            async move {
                let outcome = fut.await;
                observed.request_done(&method, &outcome, started.elapsed());
                outcome
            }
        })
}

/// Counts every request for `/metrics` and writes its access-log line: the route pattern
/// is matched once for both.
#[derive(Clone)]
struct Observer(web::Data<AppState>);

impl Observer {
    fn request_done<B>(
        &self,
        method: &actix_web::http::Method,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
        elapsed: std::time::Duration,
    ) {
        let (status, request) = match outcome {
            Ok(response) => (response.status(), Some(response.request())),
            Err(e) => (e.as_response_error().status_code(), None),
        };
        let route = request.and_then(|r| r.match_pattern());
        let route = route.as_deref().unwrap_or(crate::metrics::NO_ROUTE);
        self.0.metrics.observe_request(method.as_str(), route, status, elapsed);
        if tracing::enabled!(target: "access", tracing::Level::INFO) {
            let client = request.map(|r| self.0.trusted_proxies.client_of(r.head(), r.peer_addr()));
            access_log(method, route, status, elapsed, request, client.as_deref().unwrap_or(""));
        }
    }
}

/// The request span, with what costs nothing up front: tracing-actix-web's `root_span!`
/// matches the path against the routes again (regex) and parses the connection info for
/// every request, even when the span is filtered out (~4 % of the machine on `GET
/// /v1/contacts/{id}`, BENCHMARKS.md). Here the span is only built when INFO spans are on,
/// carries the method and request id (what ties a request's log events to its access
/// line), and is given its status and route only when the request failed: recording a
/// field makes the JSON formatter render the span's fields again.
struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        if !tracing::span_enabled!(tracing::Level::INFO) {
            return tracing::Span::none();
        }
        let request_id = request.extensions().get::<RequestId>().map(|id| id.to_string()).unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(span: tracing::Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        if span.is_disabled() {
            return;
        }
        let failed = match outcome {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        };
        if failed {
            if let Ok(response) = outcome {
                if let Some(route) = response.request().match_pattern() {
                    span.record("http.route", route);
                }
            }
            DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}

/// The access log (target `access`, at INFO): one line per request with its method, route
/// pattern (never the path's ids nor the query), status, duration, request id and user id
/// (when a bearer credential named one) and client address (`TRUSTED_PROXIES`); never a
/// header, a token, the query string or a body. With `LOG_FORMAT=json` one JSON object per line.
fn access_log(
    method: &actix_web::http::Method,
    route: &str,
    status: actix_web::http::StatusCode,
    elapsed: std::time::Duration,
    request: Option<&actix_web::HttpRequest>,
    client_ip: &str,
) {
    let ext = request.map(|r| r.extensions());
    let request_id = ext.as_ref().and_then(|e| e.get::<RequestId>().map(|id| id.to_string())).unwrap_or_default();
    let user_id =
        ext.as_ref().and_then(|e| e.get::<crate::auth::LoggedUser>().map(|u| u.0.clone())).unwrap_or_default();
    let duration_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    tracing::info!(
        target: "access",
        parent: None,
        method = %method,
        route = %route,
        status = status.as_u16(),
        duration_ms,
        request_id = %request_id,
        user_id = %user_id,
        client_ip,
        "request"
    );
}

/// Closed by default; `CORS_ALLOWED_ORIGINS` opens it to the listed origins.
fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static(crate::idempotency::HEADER),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static(crate::idempotency::REPLAYED),
        ])
        .max_age(600);
    for origin in settings.cors_allowed_origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        cors = cors.allowed_origin(origin);
    }
    cors
}
