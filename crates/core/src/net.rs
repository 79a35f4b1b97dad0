//! IP allow-lists: CIDR blocks, and the client address as seen through trusted proxies only.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (width - prefix))
            & if width == 32 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            }
    }
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address (a /32 or /128); host bits must be zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not an IP address or CIDR block like 10.0.0.0/8",
                crate::identity::clip(text)
            )
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let (value, width) = bits(network);
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
        };
        if value
            & !mask(prefix, width)
            & if width == 32 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            }
            != 0
        {
            return Err(format!(
                "`{}` has host bits set; did you mean the network address?",
                crate::identity::clip(text)
            ));
        }
        Ok(Self { network, prefix })
    }

    /// Whether `ip` lies in this block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (want, width) = bits(self.network);
        let (have, have_width) = bits(ip);
        width == have_width
            && (have & mask(self.prefix, width)) == (want & mask(self.prefix, width))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whether `ip` is allowed by `list` (an empty list allows every address).
pub fn allowed(list: &[Cidr], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|cidr| cidr.contains(ip))
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted_proxies: &[Cidr]) -> IpAddr {
    if !trusted_proxies.iter().any(|p| p.contains(peer)) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut hops: Vec<IpAddr> = Vec::new();
    for part in header.split(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) => hops.push(ip),
            // A malformed chain names no one: the address matches no allow-list (not even the
            // proxy's own), rather than falling back to the trusted peer.
            Err(_) => return IpAddr::from([0, 0, 0, 0]),
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted_proxies.iter().any(|p| p.contains(*ip)))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_contain_their_addresses_only() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8::1")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "nope",
            "10.0.0.0/x",
            "",
            "1.2.3.4/-1",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = [Cidr::parse("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), Some("1.2.3.4, 10.0.0.7"), &proxies),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), Some("6.6.6.6, 1.2.3.4"), &proxies),
            ip("1.2.3.4"),
            "spoofed left entries ignored"
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), Some("garbage"), &proxies),
            ip("0.0.0.0")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), Some("x, 203.0.113.9"), &proxies),
            ip("0.0.0.0")
        );
        assert_eq!(client_ip(ip("10.0.0.5"), None, &proxies), ip("10.0.0.5"));
    }
}
