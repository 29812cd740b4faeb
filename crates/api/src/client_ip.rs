//! The client's address: the TCP peer, or, when the peer is one of `TRUSTED_PROXIES`, the
//! address the proxies put in `X-Forwarded-For`. Rate limits, request logs and everything else
//! that records a client address ask [`client_ip`].
//!
//! `X-Forwarded-For` is read from the right, the end the nearest proxy wrote: each trusted proxy
//! names the hop before it, so the client is the rightmost address that is not a trusted proxy
//! (the leftmost one when every address is a trusted proxy). From a peer that is not a trusted
//! proxy the header is ignored, so a client cannot pick its own address.

use std::net::IpAddr;

use actix_web::{HttpRequest, http::header::HeaderMap, web};

/// One trusted address or network (`10.0.0.0/8`, `192.168.1.10`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or a CIDR range"))?;
        let address = address.to_canonical();
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `TRUSTED_PROXIES`: the peers whose `X-Forwarded-For` is believed. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// Comma-separated addresses or CIDR ranges; blank: none.
    ///
    /// # Errors
    /// A sentence naming the entry that is neither.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client's address for a request from `peer` with these headers.
    #[must_use]
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Several X-Forwarded-For headers are one list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            // An entry that is not an address ends the walk: nothing before it can be believed.
            let Some(address) = parse_hop(hop) else {
                break;
            };
            client = address;
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|socket| socket.ip().to_canonical())
}

/// The client's address of `req` under the app's [`TrustedProxies`]; `None` only for a request
/// without a TCP peer (a test request).
#[must_use]
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    Some(match req.app_data::<web::Data<TrustedProxies>>() {
        Some(trusted) => trusted.client(peer, req.headers()),
        None => peer.to_canonical(),
    })
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn addresses_and_ranges_parse_and_nonsense_is_named() {
        let trusted = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.10 ,fd00::/8,").expect("ok");
        assert!(trusted.trusts(ip("10.200.3.4")));
        assert!(trusted.trusts(ip("192.168.1.10")));
        assert!(!trusted.trusts(ip("192.168.1.11")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert!(trusted.trusts(ip("::ffff:10.1.1.1")), "IPv4-mapped IPv6");
        assert!(!trusted.trusts(ip("11.0.0.1")));
        assert_eq!(
            TrustedProxies::parse(" ,").expect("empty"),
            TrustedProxies::default()
        );
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .expect("all")
                .trusts(ip("8.8.8.8"))
        );
        for bad in ["proxy.local", "10.0.0.0/33", "10.0.0.0/x", "::/129"] {
            let error = TrustedProxies::parse(bad).expect_err(bad);
            assert!(
                error.contains(bad.split('/').next().unwrap_or(bad)),
                "{error}"
            );
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = TrustedProxies::parse("10.0.0.1").expect("ok");
        let forged = forwarded(&["1.2.3.4"]);
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &forged),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &forged),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").expect("ok");
        // The client forged a first entry; the proxies appended the real ones.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("198.51.100.7"));
        // Only proxies: the leftmost is as far as it goes.
        let all_proxies = forwarded(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &all_proxies), ip("10.9.9.9"));
        // No header at all: the proxy itself.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Ports and brackets are accepted; garbage stops the walk at the last trusted hop.
        let with_port = forwarded(&["[2001:db8::5]:443"]);
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &with_port),
            ip("2001:db8::5")
        );
        let garbage = forwarded(&["1.1.1.1, not-an-ip"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
    }
}
