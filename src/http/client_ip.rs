//! The client's address (SPEC §12): the TCP peer, or, when the peer is one of
//! `TRUSTED_PROXIES`, the address that proxy was asked by, read from `X-Forwarded-For`
//! from the right, skipping the trusted hops (the standard reading: only the hops our own
//! proxies appended are believed, so a client cannot choose its address by sending the
//! header itself).

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated CIDRs (`10.0.0.0/8`) or single addresses; empty means none.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = match part.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => part
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("TRUSTED_PROXIES: `{part}` is neither a CIDR (10.0.0.0/8) nor an address"))?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from `peer` carrying the `X-Forwarded-For` values `forwarded`
    /// (in the order the headers came).
    pub fn client<'a>(&self, peer: Option<IpAddr>, forwarded: impl Iterator<Item = &'a str>) -> String {
        let Some(peer) = peer else { return "unknown".into() };
        if !self.trusts(&peer) {
            return peer.to_string();
        }
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(&ip) {
                        break;
                    }
                }
                // Not an address: what lies left of it is not to be believed either.
                Err(_) => break,
            }
        }
        client.to_string()
    }

    /// `client` of an actix request.
    pub fn client_of(&self, head: &actix_web::dev::RequestHead, peer: Option<std::net::SocketAddr>) -> String {
        let forwarded = head.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
        self.client(peer.map(|a| a.ip()), forwarded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn only_trusted_peers_forward() -> Result<(), String> {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7")?;
        assert_eq!(t.client(ip("203.0.113.9"), ["1.2.3.4"].into_iter()), "203.0.113.9");
        assert_eq!(t.client(ip("10.1.2.3"), ["1.2.3.4"].into_iter()), "1.2.3.4");
        assert_eq!(t.client(ip("192.168.1.7"), ["6.6.6.6, 1.2.3.4, 10.0.0.5"].into_iter()), "1.2.3.4");
        assert_eq!(t.client(ip("10.1.2.3"), ["6.6.6.6", "1.2.3.4"].into_iter()), "1.2.3.4");
        assert_eq!(t.client(ip("10.1.2.3"), ["junk, 1.2.3.4"].into_iter()), "1.2.3.4");
        assert_eq!(t.client(ip("10.1.2.3"), ["1.2.3.4, junk"].into_iter()), "10.1.2.3");
        assert_eq!(t.client(ip("10.1.2.3"), std::iter::empty()), "10.1.2.3");
        assert_eq!(t.client(None, ["1.2.3.4"].into_iter()), "unknown");
        assert_eq!(TrustedProxies::default().client(ip("10.1.2.3"), ["1.2.3.4"].into_iter()), "10.1.2.3");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("")?.0.is_empty());
        Ok(())
    }
}
