//! The three services a `kaa-node` can run, and the set a node enables.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A service a node may run. A node composes any mix of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Owns metadata, serves the admin API, one active leader per cluster.
    Control,
    /// The workers endpoints connect to.
    Operations,
    /// Hands endpoints the list of live Operations servers.
    Bootstrap,
}

impl Service {
    /// Every service, in start-up order: Control first (it owns metadata the others read),
    /// Bootstrap last (it only advertises what the others serve).
    pub const ALL: [Service; 3] = [Service::Control, Service::Operations, Service::Bootstrap];

    /// The lowercase name used in config, logs, metrics and ZooKeeper.
    pub fn name(self) -> &'static str {
        match self {
            Service::Control => "control",
            Service::Operations => "operations",
            Service::Bootstrap => "bootstrap",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The services one node enables, iterated in start-up order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceSet {
    bits: u8,
}

impl ServiceSet {
    fn bit(service: Service) -> u8 {
        1 << service as u8
    }

    /// Adds `service` to the set.
    pub fn insert(&mut self, service: Service) {
        self.bits |= Self::bit(service);
    }

    /// Whether the set holds `service`.
    pub fn contains(&self, service: Service) -> bool {
        self.bits & Self::bit(service) != 0
    }

    /// Whether no service is enabled.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The enabled services in start-up order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Service> + '_ {
        Service::ALL.into_iter().filter(|s| self.contains(*s))
    }
}

impl FromIterator<Service> for ServiceSet {
    fn from_iter<I: IntoIterator<Item = Service>>(iter: I) -> Self {
        let mut set = ServiceSet::default();
        for service in iter {
            set.insert(service);
        }
        set
    }
}

impl fmt::Display for ServiceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Service::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_iterates_in_start_order_whatever_the_insert_order() {
        let set: ServiceSet = [Service::Bootstrap, Service::Control].into_iter().collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Service::Control, Service::Bootstrap]
        );
        assert!(!set.contains(Service::Operations));
        assert_eq!(set.to_string(), "control,bootstrap");
    }

    #[test]
    fn empty_set_is_empty() {
        assert!(ServiceSet::default().is_empty());
        assert_eq!(ServiceSet::default().to_string(), "");
    }
}
