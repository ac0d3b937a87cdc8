//! Client addresses as the keys of per-client limits (the hub's join and WHIP limits, the admin's
//! login throttle), and who the client is behind trusted reverse proxies.

use std::net::{IpAddr, Ipv6Addr};

/// One key per client: IPv4-mapped addresses count as IPv4, and IPv6 clients by their /64, since
/// one host usually owns a whole /64 and could otherwise rotate through it.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// An address block, `10.0.0.0/8` or `2001:db8::/32` (a bare address is its own block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_eq(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_eq(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let net = canonical(addr.parse::<IpAddr>().map_err(|_| format!("'{s}' is not an address or a CIDR block"))?);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix must be 0 to {max}"))?,
        };
        Ok(Self { net, prefix })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn mask_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = (usize::from(prefix / 8), prefix % 8);
    a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
}

/// The reverse proxies in front of a server (`[http] trusted_proxies`): a request from one of them
/// is from the client its `Forwarded` (RFC 7239) or `X-Forwarded-For` header names. Without any,
/// or from anyone else, the peer of the connection is the client, and those headers are ignored:
/// anybody can write them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse(blocks: &[String]) -> Result<Self, String> {
        blocks.iter().map(|b| b.parse()).collect::<Result<Vec<Cidr>, _>>().map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// Who sent the request that `peer` passed on with these headers: walking the chain of hops
    /// from the nearest, the first address that is not a trusted proxy. A hop that does not parse
    /// (`unknown`, an obfuscated name, garbage) ends the walk at the proxy that wrote it.
    pub fn client(&self, peer: IpAddr, forwarded: Option<&str>, x_forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = match (forwarded, x_forwarded_for) {
            (Some(f), _) => f.split(',').filter_map(forwarded_for).collect(),
            (None, Some(x)) => x.split(',').map(str::trim).collect(),
            (None, None) => return peer,
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return canonical(ip),
                None => return client,
            }
        }
        client
    }
}

/// The `for=` value of one `Forwarded` element, unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"'))
    })
}

/// An address from a hop: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    hop.parse()
        .ok()
        .or_else(|| hop.rsplit_once(':').and_then(|(a, _)| a.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_match_by_prefix() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.200.3")) && !c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")), "a mapped IPv4 address is IPv4");
        let c: Cidr = "2001:db8::/33".parse().unwrap();
        assert!(c.contains(ip("2001:db8:7fff::1")) && !c.contains(ip("2001:db8:8000::1")));
        let c: Cidr = "127.0.0.1".parse().unwrap();
        assert!(c.contains(ip("127.0.0.1")) && !c.contains(ip("127.0.0.2")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("203.0.113.5")));
        for bad in ["10.0.0.0/33", "::/129", "nonsense", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client(ip("203.0.113.9"), None, Some("198.51.100.1")),
            ip("203.0.113.9"),
            "anyone can write the header"
        );
        assert_eq!(p.client(ip("10.0.0.2"), None, Some("198.51.100.1")), ip("198.51.100.1"));
        assert_eq!(p.client(ip("10.0.0.2"), None, None), ip("10.0.0.2"), "a proxy that says nothing is the client");
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.2"), None, Some("198.51.100.1")), ip("10.0.0.2"));
    }

    #[test]
    fn the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.10"]);
        // The client forged a first hop; two proxies of ours appended theirs.
        let xff = "1.2.3.4, 198.51.100.7, 192.0.2.10";
        assert_eq!(p.client(ip("10.0.0.2"), None, Some(xff)), ip("198.51.100.7"));
        let fwd = r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.10"#;
        assert_eq!(p.client(ip("10.0.0.2"), Some(fwd), Some("9.9.9.9")), ip("2001:db8:cafe::17"), "Forwarded wins");
        assert_eq!(p.client(ip("10.0.0.2"), Some("for=198.51.100.8:5000"), None), ip("198.51.100.8"));
        // An unknown hop stops the walk at the proxy that wrote it.
        assert_eq!(p.client(ip("10.0.0.2"), Some("for=unknown, for=192.0.2.10"), None), ip("192.0.2.10"));
        assert_eq!(p.client(ip("10.0.0.2"), None, Some("garbage")), ip("10.0.0.2"));
        // Only proxies: the farthest of them.
        assert_eq!(p.client(ip("10.0.0.2"), None, Some("10.9.9.9, 192.0.2.10")), ip("10.9.9.9"));
    }

    #[test]
    fn ipv6_groups_by_slash_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
