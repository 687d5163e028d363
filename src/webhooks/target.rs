//! Where a webhook may send (SPEC §10): `https://` to public addresses only, checked when
//! a subscription is saved and again at every attempt, where the HTTP client's resolver
//! drops every forbidden address itself, so a DNS answer that changed between the check
//! and the connection (rebinding) cannot reach an internal service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// Loopback, private, link-local, multicast and the other ranges no webhook may reach.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                    || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                    || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
            }
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || a == 0 // 0.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments 192.0.0.0/24
        || a >= 240 // reserved 240.0.0.0/4
}

/// A subscription URL, parsed and checked as far as it can be without DNS.
pub fn parse(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; authenticate the requests with their signature".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if let Some(ip) = literal_ip(&url) {
        if !allow_private && forbidden(ip) {
            return Err(format!("must not point at a loopback, private, link-local or multicast address ({ip})"));
        }
    }
    Ok(url)
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves the URL's host and refuses it when any address is forbidden (at save time:
/// a host that resolves to an internal address is refused even if it also has public ones).
pub async fn check(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private || literal_ip(url).is_some() {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(std::time::Duration::from_secs(5), lookup)
        .await
        .map_err(|_| "does not resolve within 5 seconds".to_owned())?
        .map_err(|e| format!("does not resolve ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err("does not resolve".into());
    }
    if let Some(bad) = addrs.iter().find(|a| forbidden(a.ip())) {
        return Err(format!("resolves to a loopback, private, link-local or multicast address ({})", bad.ip()));
    }
    Ok(())
}

/// The HTTP client's resolver: the system's answers without the forbidden addresses.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| allow_private || !forbidden(a.ip())).collect();
            if allowed.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    format!("{} resolves only to addresses webhooks may not reach", name.as_str()).into();
                return Err(e);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The client every attempt uses: no redirects, a 10 s timeout, the guarded resolver.
pub fn client(allow_private: bool) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("crm-api-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))
}

/// The check every attempt makes before sending: the URL's rules again (a literal address
/// bypasses the resolver, so it is checked here).
pub fn attempt_allowed(url: &str, allow_private: bool) -> Result<Url, String> {
    parse(url, allow_private)
}
