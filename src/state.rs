//! Shared application state handed to every handler.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::db::Pool;

pub struct AppState {
    pub pool: Pool,
    pub settings: Settings,
    pub jwt: JwtKeys,
    pub login_limiter: LoginLimiter,
    /// Seals the contact list's keyset cursors (key derived from the signing secret).
    pub sealer: crate::http::Sealer,
}

/// Login throttling per email and per client address (in memory, per process).
pub struct LoginLimiter {
    by_email: Arc<DefaultKeyedRateLimiter<String>>,
    by_ip: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_email = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let per_ip = NonZeroU32::new(per_minute.max(1).saturating_mul(3)).unwrap_or(NonZeroU32::MIN);
        LoginLimiter {
            by_email: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_email))),
            by_ip: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_ip))),
        }
    }

    /// Counts one attempt; false when either budget is spent.
    pub fn allow(&self, email: &str, ip: &str) -> bool {
        let email_ok = self.by_email.check_key(&email.to_lowercase()).is_ok();
        let ip_ok = self.by_ip.check_key(&ip.to_owned()).is_ok();
        email_ok && ip_ok
    }
}
