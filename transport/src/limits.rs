//! What an endpoint service lets in: the connections it holds in all and per source
//! ([`Admission`], one per service, shared by its Kaatcp and HTTP listeners), and what the limits
//! in front of its transports count on `/metrics` ([`LimitMetrics`]).
//!
//! A connection is admitted when it is accepted and holds its place ([`Admitted`]) until it
//! closes; one over either cap is closed at once. A source is an IPv4 address or an IPv6 /64
//! (one host usually holds a whole /64, so counting its addresses one by one would cap nothing).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// How many connections a service holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Over its Kaatcp and HTTP ports together.
    pub total: usize,
    /// From one source (an IPv4 address or an IPv6 /64).
    pub per_source: usize,
}

impl Default for ConnectionCaps {
    fn default() -> Self {
        Self {
            total: 100_000,
            per_source: 5_000,
        }
    }
}

/// The transport a connection came on (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Kaatcp.
    Kaatcp,
    /// HTTP.
    Http,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Kaatcp => "kaatcp",
            Self::Http => "http",
        }
    }
}

/// Where a connection comes from, as the per-source cap counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4.to_bits()),
            IpAddr::V6(v6) => Self::V6((v6.to_bits() >> 64) as u64),
        }
    }
}

/// The connections one service holds, against its [`ConnectionCaps`].
#[derive(Debug)]
pub struct Admission {
    caps: ConnectionCaps,
    /// Open connections per source; the total is their sum, kept apart.
    open: Mutex<Open>,
    metrics: ServiceMetrics,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_source: HashMap<Source, usize>,
}

impl Admission {
    /// A service's admission under `caps`, counting in `metrics`.
    pub fn new(caps: ConnectionCaps, metrics: ServiceMetrics) -> Arc<Self> {
        Arc::new(Self {
            caps,
            open: Mutex::default(),
            metrics,
        })
    }

    /// Takes a place for a connection from `peer`, or `None` (counted) when the service or the
    /// source holds as many as its cap.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, transport: Transport) -> Option<Admitted> {
        let source = Source::of(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let refused = if open.total >= self.caps.total {
            Some("total")
        } else if open.by_source.get(&source).copied().unwrap_or(0) >= self.caps.per_source {
            Some("per_source")
        } else {
            None
        };
        if let Some(reason) = refused {
            drop(open);
            tracing::debug!(%peer, reason, "connection over the cap closed");
            self.metrics.refused(transport, reason);
            return None;
        }
        open.total += 1;
        *open.by_source.entry(source).or_insert(0) += 1;
        drop(open);
        self.metrics.open().inc();
        Some(Admitted {
            admission: self.clone(),
            source,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// What the service's limits count.
    pub fn metrics(&self) -> &ServiceMetrics {
        &self.metrics
    }

    fn release(&self, source: Source) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(count) = open.by_source.get_mut(&source) {
            *count -= 1;
            if *count == 0 {
                open.by_source.remove(&source);
            }
        }
        drop(open);
        self.metrics.open().dec();
    }
}

/// One admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    source: Source,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.release(self.source);
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    service: &'static str,
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    service: &'static str,
    transport: &'static str,
    reason: &'static str,
}

/// The counters of the endpoint transports' limits, for every service of the node (labelled
/// `service`); register once, hand each service its [`ServiceMetrics`].
#[derive(Debug, Clone, Default)]
pub struct LimitMetrics {
    open: Family<ServiceLabel, Gauge>,
    refused: Family<RefusedLabels, Counter>,
    deadline: Family<TransportLabels, Counter>,
    clamped: Family<ServiceLabel, Counter>,
    too_large: Family<TransportLabels, Counter>,
}

impl LimitMetrics {
    /// The handle of service `service` (`operations`, `bootstrap`).
    pub fn service(&self, service: &'static str) -> ServiceMetrics {
        ServiceMetrics {
            service,
            families: self.clone(),
        }
    }

    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_endpoint_connections",
            "Endpoint connections open, Kaatcp and HTTP together",
            self.open.clone(),
        );
        registry.register(
            "kaa_endpoint_connections_refused",
            "Endpoint connections closed at once because the service (reason total) or their source (reason per_source) held as many as its cap",
            self.refused.clone(),
        );
        registry.register(
            "kaa_endpoint_connect_deadline_exceeded",
            "Endpoint connections cut because they did not complete CONNECT (Kaatcp) or their request (HTTP) within the connect deadline",
            self.deadline.clone(),
        );
        registry.register(
            "kaa_endpoint_keepalive_clamped",
            "Kaatcp sessions that asked for a keepalive above the cap and were given the cap",
            self.clamped.clone(),
        );
        registry.register(
            "kaa_endpoint_messages_too_large",
            "Kaatcp frames and HTTP bodies refused for being larger than the limit",
            self.too_large.clone(),
        );
    }
}

/// One service's counters of [`LimitMetrics`].
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    service: &'static str,
    families: LimitMetrics,
}

impl ServiceMetrics {
    /// Counters registered nowhere (a transport run outside a node).
    pub fn unregistered() -> Self {
        LimitMetrics::default().service("unregistered")
    }

    fn open(&self) -> Gauge {
        self.families
            .open
            .get_or_create(&ServiceLabel {
                service: self.service,
            })
            .clone()
    }

    fn refused(&self, transport: Transport, reason: &'static str) {
        self.families
            .refused
            .get_or_create(&RefusedLabels {
                service: self.service,
                transport: transport.label(),
                reason,
            })
            .inc();
    }

    /// A connection passed the connect deadline.
    pub fn deadline_exceeded(&self, transport: Transport) {
        self.families
            .deadline
            .get_or_create(&TransportLabels {
                service: self.service,
                transport: transport.label(),
            })
            .inc();
    }

    /// A session's keepalive was clamped to the cap.
    pub fn keepalive_clamped(&self) {
        self.families
            .clamped
            .get_or_create(&ServiceLabel {
                service: self.service,
            })
            .inc();
    }

    /// A frame or body was over the size limit.
    pub fn too_large(&self, transport: Transport) {
        self.families
            .too_large
            .get_or_create(&TransportLabels {
                service: self.service,
                transport: transport.label(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_over_its_cap_is_refused_until_one_of_its_connections_closes() {
        let metrics = LimitMetrics::default();
        let caps = ConnectionCaps {
            total: 10,
            per_source: 2,
        };
        let admission = Admission::new(caps, metrics.service("operations"));
        let first = admission.admit(ip("127.0.0.2"), Transport::Kaatcp).unwrap();
        let _second = admission.admit(ip("127.0.0.2"), Transport::Http).unwrap();
        assert!(
            admission
                .admit(ip("127.0.0.2"), Transport::Kaatcp)
                .is_none()
        );
        // Another source is not held back; an IPv4-mapped IPv6 address is the IPv4 one.
        let _other = admission.admit(ip("127.0.0.3"), Transport::Kaatcp).unwrap();
        assert!(
            admission
                .admit(ip("::ffff:127.0.0.2"), Transport::Kaatcp)
                .is_none()
        );
        drop(first);
        assert!(
            admission
                .admit(ip("127.0.0.2"), Transport::Kaatcp)
                .is_some()
        );
        let refused = metrics
            .refused
            .get_or_create(&RefusedLabels {
                service: "operations",
                transport: "kaatcp",
                reason: "per_source",
            })
            .get();
        assert_eq!(refused, 2);
    }

    #[test]
    fn the_total_cap_holds_across_sources_and_an_ipv6_64_is_one_source() {
        let metrics = LimitMetrics::default();
        let caps = ConnectionCaps {
            total: 3,
            per_source: 2,
        };
        let admission = Admission::new(caps, metrics.service("bootstrap"));
        let held: Vec<_> = ["2001:db8::1", "2001:db8::2"]
            .iter()
            .map(|a| admission.admit(ip(a), Transport::Kaatcp).unwrap())
            .collect();
        assert!(
            admission
                .admit(ip("2001:db8::ffff:1"), Transport::Kaatcp)
                .is_none(),
            "the same /64"
        );
        let _third = admission
            .admit(ip("2001:db8:0:1::1"), Transport::Kaatcp)
            .unwrap();
        assert!(admission.admit(ip("10.0.0.1"), Transport::Http).is_none());
        assert_eq!(admission.open(), 3);
        drop(held);
        assert_eq!(admission.open(), 1);
        let open = metrics
            .open
            .get_or_create(&ServiceLabel {
                service: "bootstrap",
            })
            .get();
        assert_eq!(open, 1);
    }
}
