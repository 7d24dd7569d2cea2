//! Calls Operations makes on a tenant's behalf (REST log appenders, HTTP user verifiers, the
//! Cassandra and MongoDB targets tenants name), held to the operator's
//! [`OutboundPolicy`](kaa_model::outbound::OutboundPolicy).
//!
//! Names are resolved here and every address is checked before use; the caller then connects
//! to the checked addresses, so a name that resolves differently a moment later (DNS rebinding)
//! cannot lead elsewhere. HTTP goes through one client whose resolver does this check, that
//! follows no redirects, uses no proxy and times out every call. Whatever goes wrong (refused
//! by policy, no such host, port closed, timeout) is one [`OutboundError`] for the node's log;
//! tenants are told only [`UNREACHABLE`], so the errors cannot map the operator's network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kaa_model::outbound::{OutboundPolicy, Restriction};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What a tenant is told when a call on its behalf fails for any reason before an answer.
pub const UNREACHABLE: &str = "the remote service could not be reached";

/// Longest wait for a name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest HTTP call when the caller sets no shorter timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call on a tenant's behalf did not get an answer; for the node's log only.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Every address of the target is one the operator did not allow.
    #[error("{target}: {restriction} address {ip} is not in operations.outbound_allow")]
    Refused {
        /// Host as the tenant named it.
        target: String,
        /// The first refused address.
        ip: IpAddr,
        /// Why it is refused.
        restriction: Restriction,
    },
    /// The name did not resolve.
    #[error("{target}: cannot resolve: {detail}")]
    Unresolved {
        /// Host as the tenant named it.
        target: String,
        /// The resolver's answer.
        detail: String,
    },
    /// Not a URL with a host, or not `host:port`.
    #[error("{0:?} names no host")]
    NoHost(String),
    /// The HTTP call failed (connection, TLS, timeout).
    #[error("{0}")]
    Http(#[from] reqwest::Error),
}

/// The operator's outbound policy and the HTTP client held to it.
pub struct Outbound {
    policy: Arc<OutboundPolicy>,
    http: reqwest::Client,
}

impl Outbound {
    /// An HTTP client and resolver held to `policy`.
    pub fn new(policy: OutboundPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .build()?;
        Ok(Self { policy, http })
    }

    /// The policy, for drivers that discover further addresses themselves.
    pub fn policy(&self) -> &Arc<OutboundPolicy> {
        &self.policy
    }

    /// POSTs `body` as JSON to `url`, waiting at most `timeout` for the answer.
    pub async fn post_json(
        &self,
        url: &str,
        timeout: Duration,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, OutboundError> {
        let no_host = || OutboundError::NoHost(url.to_owned());
        let parsed = reqwest::Url::parse(url).map_err(|_| no_host())?;
        let host = parsed.host_str().ok_or_else(no_host)?;
        // The resolver sees names only: an address in the URL is checked here.
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        if let Ok(ip) = literal {
            self.policy
                .check(&ip.to_string(), ip)
                .map_err(|restriction| OutboundError::Refused {
                    target: ip.to_string(),
                    ip,
                    restriction,
                })?;
        }
        Ok(self
            .http
            .post(parsed)
            .timeout(timeout)
            .json(body)
            .send()
            .await?)
    }

    /// The admitted addresses of `host_port` (`host:port`, `[v6]:port`); fails when none is.
    pub async fn resolve(&self, host_port: &str) -> Result<Vec<SocketAddr>, OutboundError> {
        let (host, port) = split_host_port(host_port)
            .ok_or_else(|| OutboundError::NoHost(host_port.to_owned()))?;
        admitted(&self.policy, host, port).await
    }
}

/// `host:port` or `[v6 address]:port` as host and port.
pub fn split_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let named = !host.is_empty() && !host.contains(':');
    (named || host.parse::<IpAddr>().is_ok())
        .then_some(())
        .and(port.parse().ok().map(|port| (host, port)))
}

/// Resolves `host` and keeps the addresses `policy` admits.
async fn admitted(
    policy: &OutboundPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, OutboundError> {
    let unresolved = |detail: String| OutboundError::Unresolved {
        target: host.to_owned(),
        detail,
    };
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| unresolved("timed out".into()))?
        .map_err(|error| unresolved(error.to_string()))?;
    let mut refused = None;
    let admitted: Vec<SocketAddr> = found
        .filter(|address| match policy.check(host, address.ip()) {
            Ok(()) => true,
            Err(restriction) => {
                refused.get_or_insert((address.ip(), restriction));
                false
            }
        })
        .collect();
    match refused {
        _ if !admitted.is_empty() => Ok(admitted),
        Some((ip, restriction)) => Err(OutboundError::Refused {
            target: host.to_owned(),
            ip,
            restriction,
        }),
        None => Err(unresolved("no addresses".into())),
    }
}

/// The HTTP client's resolver: only admitted addresses reach the connector.
struct CheckedResolver(Arc<OutboundPolicy>);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addresses = admitted(&policy, name.as_str(), 0).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_split_with_bracketed_ipv6() {
        assert_eq!(split_host_port("db1:9042"), Some(("db1", 9042)));
        assert_eq!(split_host_port("[::1]:9042"), Some(("::1", 9042)));
        assert_eq!(split_host_port("10.0.0.1:9042"), Some(("10.0.0.1", 9042)));
        for bad in ["db1", "db1:x", ":9042", "a:b:9042", "db1:70000"] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let closed = Outbound::new(OutboundPolicy::default()).unwrap();
        assert!(matches!(
            closed.resolve("127.0.0.1:9").await,
            Err(OutboundError::Refused {
                restriction: Restriction::Loopback,
                ..
            })
        ));
        let error = closed
            .post_json(
                "http://127.0.0.1:9/x",
                Duration::from_secs(1),
                &serde_json::json!([]),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, OutboundError::Refused { .. }), "{error}");
        let error = closed
            .post_json(
                "http://localhost:9/x",
                Duration::from_secs(1),
                &serde_json::json!([]),
            )
            .await
            .unwrap_err();
        assert!(
            format!("{error:?}").contains("Refused"),
            "the resolver refused localhost: {error:?}"
        );

        let open = Outbound::new(OutboundPolicy::new(&["127.0.0.0/8"]).unwrap()).unwrap();
        assert_eq!(
            open.resolve("127.0.0.1:9").await.unwrap(),
            vec![SocketAddr::from(([127, 0, 0, 1], 9))]
        );
    }
}
