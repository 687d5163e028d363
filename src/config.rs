//! Settings from the environment (and the equivalent command-line flags).

use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
    Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Every setting has an environment variable; values are never echoed back (`hide_env_values`).
#[derive(Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct Settings {
    /// `sqlite://<path>` or `postgres://…`
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://./data/crm.sqlite3", hide_env_values = true)]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,
    /// HS256 signing secret (at least 32 bytes); required unless APP_ENV=development.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Several HS256 secrets, comma-separated, for rotation (SPEC §12): the first signs, all
    /// verify; each at least 32 bytes. Instead of `JWT_SECRET`, not with it.
    #[arg(long, env = "JWT_SECRETS", hide_env_values = true)]
    pub jwt_secrets: Option<String>,
    #[arg(long, env = "APP_ENV", value_enum, default_value = "development")]
    pub app_env: AppEnv,
    /// Whether `POST /v1/auth/signup` creates accounts.
    #[arg(long, env = "ALLOW_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_signup: bool,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    /// Issuer and audience of access tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "crm-api")]
    pub jwt_issuer: String,
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// Largest accepted JSON body in bytes (413 above it).
    #[arg(long, env = "JSON_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub json_body_limit: usize,
    /// Largest accepted CSV import body in bytes.
    #[arg(long, env = "IMPORT_BODY_LIMIT", default_value_t = 16 * 1024 * 1024)]
    pub import_body_limit: usize,
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
    /// Ping a pooled connection before each use. Costs a round trip per request; off (the
    /// default), a connection that died (database restart) answers one request with 503
    /// and is then discarded.
    #[arg(long, env = "DB_TEST_ON_CHECKOUT", default_value_t = false, action = clap::ArgAction::Set)]
    pub db_test_on_checkout: bool,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "DB_TIMEOUT_SECS", default_value_t = 5)]
    pub db_timeout_secs: u64,
    /// Login attempts allowed per email per minute (and 3x that per client IP).
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub login_attempts_per_minute: u32,
    /// Comma-separated CIDRs (or addresses) of the proxies in front of the service: only a
    /// peer among them is believed about the client's address (`X-Forwarded-For`), which
    /// login throttling and the access log use. Empty: the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Comma-separated origins allowed by CORS; empty means no cross-origin access.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,
    /// Lets webhook URLs use `http://` and loopback, private, link-local or multicast
    /// addresses (development and tests only; SPEC §10).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Webhook deliveries one process attempts at once.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 8)]
    pub webhook_concurrency: usize,
    /// How often an idle delivery worker looks for due deliveries, in milliseconds (a
    /// write in the same process wakes it at once).
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// How long a claimed delivery belongs to the worker that claimed it, in seconds (at
    /// least 15: longer than an attempt's 10 s timeout). A process killed mid-delivery
    /// leaves its claims; another worker sends them again once this runs out.
    #[arg(long, env = "WEBHOOK_LEASE_SECS", default_value_t = 60)]
    pub webhook_lease_secs: u64,
    /// Run the delivery worker in this process (`false` for a replica that only answers
    /// requests).
    #[arg(long, env = "WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_worker: bool,
    /// Serve `GET /metrics` on this address only (no token; keep it off the public
    /// network), e.g. `0.0.0.0:9100`. Unset: `/metrics` is on the API port behind
    /// `METRICS_TOKEN`.
    #[arg(long, env = "METRICS_BIND_ADDR")]
    pub metrics_bind_addr: Option<String>,
    /// The bearer token `GET /metrics` on the API port asks for (when `METRICS_BIND_ADDR` is
    /// unset). Unset as well: `/metrics` answers 401 to everyone.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The service's external base URL (e.g. `https://crm.example.com`): SSO's callback,
    /// `<PUBLIC_URL>/v1/auth/sso/callback`, is the redirect URI to register at the identity
    /// provider. Unset: taken from each request's scheme and host.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database", &self.database_url.split(':').next().unwrap_or(""))
            .field("bind_addr", &self.bind_addr)
            .field("app_env", &self.app_env)
            .field("allow_signup", &self.allow_signup)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn db_timeout(&self) -> Duration {
        Duration::from_secs(self.db_timeout_secs.max(1))
    }

    /// The signing secrets, the one that signs first (`JWT_SECRETS`, or `JWT_SECRET` alone),
    /// or an error that stops start-up outside development.
    pub fn resolve_jwt_secrets(&self) -> Result<Vec<Vec<u8>>, String> {
        let list = match (&self.jwt_secret, &self.jwt_secrets) {
            (Some(_), Some(_)) => return Err("set JWT_SECRET or JWT_SECRETS, not both".into()),
            (None, Some(many)) => Some(many.split(',').map(str::trim).map(str::to_owned).collect::<Vec<_>>()),
            (one, None) => one.clone().map(|s| vec![s]),
        };
        match list {
            Some(list) if list.is_empty() || list.iter().any(|s| s.len() < 32) => {
                Err("each JWT secret (JWT_SECRET, or each of JWT_SECRETS) must be at least 32 bytes".into())
            }
            Some(list) => Ok(list.into_iter().map(String::into_bytes).collect()),
            None if self.app_env != AppEnv::Development => {
                Err("JWT_SECRET (or JWT_SECRETS) is required when APP_ENV is not development".into())
            }
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random secret (development only; tokens die with the process)"
                );
                use rand::RngCore;
                let mut bytes = vec![0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                Ok(vec![bytes])
            }
        }
    }
}
