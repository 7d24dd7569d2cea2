//! Which addresses a node may call on a tenant's behalf: the pure policy behind REST appenders,
//! HTTP user verifiers and the Cassandra / MongoDB targets tenants name.
//!
//! A tenant names a host; Operations resolves it and asks [`OutboundPolicy::check`] about every
//! address before connecting to that very address. Addresses inside the operator's network
//! (loopback, private, link-local, shared CGNAT, unspecified, multicast, reserved) and cloud
//! metadata services are refused unless the operator's allow-list (`operations.outbound_allow`)
//! admits them, by network (`10.0.0.0/8`) or by host name (`ingest.example.com`). A cloud
//! metadata address is admitted only by an entry naming exactly that address, never by a wider
//! network or a host name, whose DNS the operator may not control.
//!
//! IPv6 addresses that carry an IPv4 address (mapped, NAT64, 6to4) are judged by the IPv4
//! address inside, so `::ffff:127.0.0.1` is loopback.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why an address is not called without the operator's leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), IPv6 unique local `fc00::/7` and site
    /// local `fec0::/10`.
    Private,
    /// Shared address space of carrier-grade NAT, `100.64.0.0/10`.
    SharedNat,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud provider's instance metadata service (`169.254.169.254`, `fd00:ec2::254`).
    CloudMetadata,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// Broadcast, documentation, benchmarking, protocol assignments, `240.0.0.0/4`, Teredo,
    /// the IPv6 discard prefix.
    Reserved,
}

impl fmt::Display for Restriction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedNat => "shared (CGNAT)",
            Self::LinkLocal => "link-local",
            Self::CloudMetadata => "cloud metadata",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        })
    }
}

/// The cloud metadata services' addresses.
const METADATA: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
];

/// Why `ip` may not be called unless allowed; `None` for a public address.
pub fn restriction(ip: IpAddr) -> Option<Restriction> {
    let ip = ip.to_canonical();
    if METADATA.contains(&ip) {
        return Some(Restriction::CloudMetadata);
    }
    match ip {
        IpAddr::V4(v4) => restriction_v4(v4),
        IpAddr::V6(v6) => restriction_v6(v6),
    }
}

fn restriction_v4(ip: Ipv4Addr) -> Option<Restriction> {
    let within = |net: [u8; 4], prefix: u8| Cidr::v4(net, prefix).contains(IpAddr::V4(ip));
    Some(if within([0, 0, 0, 0], 8) {
        Restriction::Unspecified
    } else if within([127, 0, 0, 0], 8) {
        Restriction::Loopback
    } else if within([10, 0, 0, 0], 8)
        || within([172, 16, 0, 0], 12)
        || within([192, 168, 0, 0], 16)
    {
        Restriction::Private
    } else if within([100, 64, 0, 0], 10) {
        Restriction::SharedNat
    } else if within([169, 254, 0, 0], 16) {
        Restriction::LinkLocal
    } else if within([224, 0, 0, 0], 4) {
        Restriction::Multicast
    } else if within([192, 0, 0, 0], 24)
        || within([192, 0, 2, 0], 24)
        || within([198, 18, 0, 0], 15)
        || within([198, 51, 100, 0], 24)
        || within([203, 0, 113, 0], 24)
        || within([240, 0, 0, 0], 4)
    {
        // 240.0.0.0/4 holds the broadcast address too.
        Restriction::Reserved
    } else {
        return None;
    })
}

fn restriction_v6(ip: Ipv6Addr) -> Option<Restriction> {
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| {
        restriction(IpAddr::V4(Ipv4Addr::from(
            (u32::from(high) << 16) | u32::from(low),
        )))
    };
    let within = |net: [u16; 8], prefix: u8| Cidr::v6(net, prefix).contains(IpAddr::V6(ip));
    if ip.is_unspecified() {
        Some(Restriction::Unspecified)
    } else if ip.is_loopback() {
        Some(Restriction::Loopback)
    } else if within([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
        || within([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48)
    {
        // NAT64: the IPv4 address is the last 32 bits.
        embedded(segments[6], segments[7])
    } else if within([0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        // 6to4: the IPv4 address follows the prefix.
        embedded(segments[1], segments[2])
    } else if within([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7) || within([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10)
    {
        Some(Restriction::Private)
    } else if within([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10) {
        Some(Restriction::LinkLocal)
    } else if within([0xff00, 0, 0, 0, 0, 0, 0, 0], 8) {
        Some(Restriction::Multicast)
    } else if within([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32)
        || within([0x2001, 0, 0, 0, 0, 0, 0, 0], 32)
        || within([0x100, 0, 0, 0, 0, 0, 0, 0], 64)
        || within([0, 0, 0, 0, 0, 0, 0, 0], 96)
    {
        // Documentation, Teredo (an obfuscated IPv4 address), discard, IPv4-compatible.
        Some(Restriction::Reserved)
    } else {
        None
    }
}

/// A network: an address and a prefix length; the address's bits past the prefix are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// An allow-list entry that is neither a network nor a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?}: {message}")]
pub struct BadAllowEntry {
    /// The entry as written.
    pub entry: String,
    /// What is wrong.
    pub message: &'static str,
}

impl Cidr {
    fn v4(net: [u8; 4], prefix: u8) -> Self {
        Self {
            net: IpAddr::V4(Ipv4Addr::from(net)),
            prefix,
        }
    }

    fn v6(net: [u16; 8], prefix: u8) -> Self {
        Self {
            net: IpAddr::V6(Ipv6Addr::from(net)),
            prefix,
        }
    }

    /// Whether `ip` is in this network; an IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
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

    /// Whether this network is exactly one address.
    fn is_single(&self) -> bool {
        self.prefix == if self.net.is_ipv4() { 32 } else { 128 }
    }
}

impl FromStr for Cidr {
    type Err = &'static str;

    /// `10.0.0.0/8`, `fd00::/8`, or one address (`203.0.113.7`, a /32 or /128).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let net = address
            .parse::<IpAddr>()
            .map_err(|_| "not an IP address")?
            .to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or("the prefix length must be a number up to 32 (IPv4) or 128 (IPv6)")?,
        };
        Ok(Self { net, prefix })
    }
}

/// One entry of the operator's allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowEntry {
    Network(Cidr),
    /// Lowercase, without a trailing dot.
    Host(String),
}

/// The operator's allow-list and the rule it relaxes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allow: Vec<AllowEntry>,
}

/// A host name as compared: lowercase, without a trailing dot.
fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` is a DNS name: dot-separated labels of letters, digits and `-`, not starting
/// or ending with `-`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl OutboundPolicy {
    /// The policy with `entries` allowed: networks (`10.0.0.0/8`), addresses or host names.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadAllowEntry> {
        let allow = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                let bad = |message| BadAllowEntry {
                    entry: entry.to_owned(),
                    message,
                };
                let looks_numeric =
                    entry.contains(':') || entry.contains('/') || entry.parse::<IpAddr>().is_ok();
                if looks_numeric {
                    entry.parse().map(AllowEntry::Network).map_err(bad)
                } else if is_host_name(&normalise_host(entry)) {
                    Ok(AllowEntry::Host(normalise_host(entry)))
                } else {
                    Err(bad(
                        "must be a network such as 10.0.0.0/8, an IP address or a host name",
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    /// Whether connecting to `ip`, reached through the name `host` (the URL's host, or the
    /// address itself), is allowed; the restriction that forbids it otherwise.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Restriction> {
        let Some(restriction) = restriction(ip) else {
            return Ok(());
        };
        let admitted = if restriction == Restriction::CloudMetadata {
            self.allow
                .iter()
                .any(|entry| matches!(entry, AllowEntry::Network(net) if net.is_single() && net.contains(ip)))
        } else {
            let host = normalise_host(host.trim_start_matches('[').trim_end_matches(']'));
            self.allow.iter().any(|entry| match entry {
                AllowEntry::Network(net) => net.contains(ip),
                AllowEntry::Host(name) => *name == host,
            })
        };
        if admitted { Ok(()) } else { Err(restriction) }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_classified() {
        for (address, expected) in [
            ("127.0.0.1", Some(Restriction::Loopback)),
            ("127.255.0.9", Some(Restriction::Loopback)),
            ("::1", Some(Restriction::Loopback)),
            ("::ffff:127.0.0.1", Some(Restriction::Loopback)),
            ("0.0.0.0", Some(Restriction::Unspecified)),
            ("::", Some(Restriction::Unspecified)),
            ("10.1.2.3", Some(Restriction::Private)),
            ("172.16.0.1", Some(Restriction::Private)),
            ("172.31.255.255", Some(Restriction::Private)),
            ("192.168.1.1", Some(Restriction::Private)),
            ("fd12:3456::1", Some(Restriction::Private)),
            ("100.64.0.1", Some(Restriction::SharedNat)),
            ("100.100.100.200", Some(Restriction::SharedNat)),
            ("169.254.1.1", Some(Restriction::LinkLocal)),
            ("fe80::1", Some(Restriction::LinkLocal)),
            ("169.254.169.254", Some(Restriction::CloudMetadata)),
            ("fd00:ec2::254", Some(Restriction::CloudMetadata)),
            ("::ffff:169.254.169.254", Some(Restriction::CloudMetadata)),
            ("224.0.0.1", Some(Restriction::Multicast)),
            ("ff02::1", Some(Restriction::Multicast)),
            ("255.255.255.255", Some(Restriction::Reserved)),
            ("192.0.2.1", Some(Restriction::Reserved)),
            ("2001:db8::1", Some(Restriction::Reserved)),
            ("2001:0:4136:e378::1", Some(Restriction::Reserved)),
            ("64:ff9b::a00:1", Some(Restriction::Private)),
            ("64:ff9b::7f00:1", Some(Restriction::Loopback)),
            ("2002:7f00:1::1", Some(Restriction::Loopback)),
            ("2002:0808:0808::1", None),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
        ] {
            assert_eq!(restriction(ip(address)), expected, "{address}");
        }
    }

    #[test]
    fn networks_parse_and_contain_their_addresses() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.200.3.4")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(ip("8.8.8.8")));
        assert!(!any.contains(ip("::1")));
        let one: Cidr = "fd00::1".parse().unwrap();
        assert!(one.contains(ip("fd00::1")) && !one.contains(ip("fd00::2")));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "nope/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allow_list_admits_networks_and_host_names() {
        let policy = OutboundPolicy::new(&["10.0.0.0/8", "Ingest.Example.com.", "::1"]).unwrap();
        assert_eq!(policy.check("logs", ip("10.9.9.9")), Ok(()));
        assert_eq!(
            policy.check("ingest.example.com", ip("192.168.1.5")),
            Ok(())
        );
        assert_eq!(policy.check("[::1]", ip("::1")), Ok(()));
        assert_eq!(
            policy.check("other.example.com", ip("192.168.1.5")),
            Err(Restriction::Private)
        );
        assert_eq!(
            policy.check("127.0.0.1", ip("127.0.0.1")),
            Err(Restriction::Loopback)
        );
        assert_eq!(policy.check("example.org", ip("93.184.215.14")), Ok(()));
        assert_eq!(
            OutboundPolicy::default().check("localhost", ip("127.0.0.1")),
            Err(Restriction::Loopback)
        );
    }

    #[test]
    fn cloud_metadata_needs_an_entry_naming_exactly_its_address() {
        let wide = OutboundPolicy::new(&["169.254.0.0/16", "metadata.internal"]).unwrap();
        assert_eq!(
            wide.check("metadata.internal", ip("169.254.169.254")),
            Err(Restriction::CloudMetadata)
        );
        assert_eq!(wide.check("x", ip("169.254.1.1")), Ok(()));
        let exact = OutboundPolicy::new(&["169.254.169.254/32"]).unwrap();
        assert_eq!(exact.check("x", ip("169.254.169.254")), Ok(()));
    }

    #[test]
    fn bad_allow_entries_are_named() {
        for bad in [
            "10.0.0.0/40",
            "under_score.example",
            "-x.example",
            "",
            "a b",
        ] {
            let error = OutboundPolicy::new(&[bad]).unwrap_err();
            assert_eq!(error.entry, bad.trim());
        }
    }

    fn any_ipv4() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    proptest! {
        #[test]
        fn a_mapped_ipv6_address_is_judged_as_its_ipv4_address(v4 in any_ipv4()) {
            prop_assert_eq!(
                restriction(IpAddr::V6(v4.to_ipv6_mapped())),
                restriction(IpAddr::V4(v4))
            );
        }

        #[test]
        fn an_address_is_in_every_network_written_from_it(v4 in any_ipv4(), prefix in 0u8..=32) {
            let net: Cidr = format!("{v4}/{prefix}").parse().unwrap();
            prop_assert!(net.contains(IpAddr::V4(v4)));
        }

        #[test]
        fn allowing_an_address_admits_it_and_nothing_else_restricted(
            v4 in any_ipv4(),
            other in any_ipv4(),
        ) {
            let policy = OutboundPolicy::new(&[v4.to_string()]).unwrap();
            prop_assert_eq!(policy.check("h", IpAddr::V4(v4)), Ok(()));
            if other != v4 {
                prop_assert_eq!(
                    policy.check("h", IpAddr::V4(other)).err(),
                    restriction(IpAddr::V4(other))
                );
            }
        }

        #[test]
        fn private_networks_are_refused_unless_allowed(low in any::<u32>()) {
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (low & 0x00ff_ffff)));
            prop_assert_eq!(
                OutboundPolicy::default().check("h", address),
                Err(Restriction::Private)
            );
            let policy = OutboundPolicy::new(&["10.0.0.0/8"]).unwrap();
            prop_assert_eq!(policy.check("h", address), Ok(()));
        }
    }
}
