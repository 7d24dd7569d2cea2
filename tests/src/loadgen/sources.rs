//! Where the generator's connections come from, and what the system must allow for them.
//!
//! One source address has one range of local ports (`net.ipv4.ip_local_port_range`, 28,231 ports
//! by default), so connections are spread round-robin over 127.0.1.1, 127.0.1.2, … (all of
//! 127.0.0.0/8 is loopback on Linux), [`PER_SOURCE`] each by default. Each session also holds one
//! file descriptor: [`raise_nofile`] lifts the generator's limit to what the run needs, or says
//! what to do.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::bail;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Connections per source address by default: a tenth of the default local port range, because a
/// run's closed connections keep their ports in TIME_WAIT for a minute, so runs back to back
/// (as `make bench-scale` makes them, from the same addresses) need room for several runs' ports.
/// At 20,000 per address, a 10,000-session run right after two others found the ports taken.
pub const PER_SOURCE: usize = 2_000;

/// Descriptors a run needs beyond one per session (runtime, files, standard streams).
const SPARE_DESCRIPTORS: u64 = 64;

/// The source addresses of a run.
#[derive(Debug, Clone)]
pub struct Sources {
    count: usize,
}

impl Sources {
    /// `count` addresses, or enough for `endpoints` at [`PER_SOURCE`] each.
    pub fn new(count: Option<usize>, endpoints: usize) -> anyhow::Result<Self> {
        let count = count.unwrap_or_else(|| endpoints.div_ceil(PER_SOURCE).max(1));
        // 127.0.1.1 to 127.255.255.254, skipping .0 and .255 in the last octet.
        if count == 0 || count > 254 * 255 * 255 {
            bail!("--sources {count}: between 1 and {}", 254 * 255 * 255);
        }
        Ok(Self { count })
    }

    /// How many addresses.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none (never: at least one).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The source address of session `index`.
    pub fn for_session(&self, index: usize) -> IpAddr {
        address(index % self.count)
    }
}

/// The `n`th source address: 127.0.1.1 … 127.0.1.254, 127.0.2.1, …
pub fn address(n: usize) -> IpAddr {
    let host = n % 254 + 1;
    let net = n / 254 + 1;
    IpAddr::V4(Ipv4Addr::new(
        127,
        (net / 256) as u8,
        (net % 256) as u8,
        host as u8,
    ))
}

/// The file-descriptor limits after [`raise_nofile`].
#[derive(Debug, Clone, Copy)]
pub struct NoFile {
    /// The soft limit in force.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the generator's RLIMIT_NOFILE so `sessions` connections fit; fails with what to do
/// when the system does not allow it.
pub fn raise_nofile(sessions: usize) -> anyhow::Result<NoFile> {
    let needed = sessions as u64 + SPARE_DESCRIPTORS;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= needed {
        return Ok(NoFile { soft, hard });
    }
    // Raising the hard limit needs root (CAP_SYS_RESOURCE); the soft one only up to hard.
    let target_hard = hard.max(needed);
    if setrlimit(Resource::RLIMIT_NOFILE, needed, target_hard).is_ok() {
        return Ok(NoFile {
            soft: needed,
            hard: target_hard,
        });
    }
    bail!(
        "file-descriptor limit {soft} (hard {hard}) < {needed} needed for {sessions} sessions; \
         raise it with ulimit -n {needed} or run as root"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_spread_round_robin_over_addresses_from_127_0_1_1() {
        let sources = Sources::new(None, 5_000).unwrap();
        assert_eq!(sources.len(), 3);
        assert_eq!(sources.for_session(0).to_string(), "127.0.1.1");
        assert_eq!(sources.for_session(4).to_string(), "127.0.1.2");
        assert_eq!(address(253).to_string(), "127.0.1.254");
        assert_eq!(address(254).to_string(), "127.0.2.1");
        assert_eq!(address(254 * 255).to_string(), "127.1.0.1");
        assert_eq!(Sources::new(None, 10).unwrap().len(), 1);
        assert!(Sources::new(Some(0), 10).is_err());
    }
}
