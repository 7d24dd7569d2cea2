//! Control leader election, as a small state machine ([`Election`]) and its ZooKeeper driver
//! ([`run_election`]).
//!
//! Recipe (Kaa's): every Control node tries to create the ephemeral `/controlServerNode`; the one
//! that succeeds leads, the others watch the znode and race again when it vanishes.
//!
//! Safety: a leader stops *acting* the moment its client loses the connection, before its
//! session can expire on the server. ZooKeeper deletes the znode only at expiry (a full session
//! timeout after it last heard from the leader), and the client notices the silence after about
//! two thirds of that timeout, so the old leader has stepped down before any standby can win.
//! On reconnection within the same session, it acts again only after checking that the znode is
//! still its own.
//!
//! The leader znode can be created, changed and deleted only with the cluster's credentials
//! ([`crate::acl`]), so no outsider can take the lock or learn the leader's internode address.

use std::time::Duration;

use kaa_idl::zk::{AvroRecord, ControlNodeInfo};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zookeeper_client as zk;

use crate::acl::Readers;
use crate::zookeeper::ZkSession;

/// The leader znode, relative to the cluster's chroot.
pub const LEADER_PATH: &str = "/controlServerNode";

/// Where this node stands in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// No usable session: neither leading nor standing by.
    Candidate,
    /// Holds the leader znode and acts as leader.
    Leader,
    /// Holds the leader znode but the connection is down: must not act until it is back and
    /// the znode is confirmed.
    Suspended,
    /// Another node leads; waiting for its znode to vanish.
    Standby,
}

/// What the driver observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionEvent {
    /// Our create of the leader znode succeeded (or the znode is ours already).
    Won,
    /// The leader znode belongs to another session.
    Lost,
    /// The client lost its connection; the session may still be alive.
    Disconnected,
    /// The connection is back and the leader znode is still ours.
    ReconnectedStillOwner,
    /// The connection is back but the znode is not ours any more.
    ReconnectedNotOwner,
    /// The session ended; its ephemeral znodes are gone.
    SessionEnded,
}

impl Election {
    /// The next state after `event`.
    pub fn on(self, event: ElectionEvent) -> Election {
        use Election::*;
        use ElectionEvent::*;
        match (self, event) {
            (_, SessionEnded) => Candidate,
            (_, Won) => Leader,
            (_, Lost) => Standby,
            (Leader | Suspended, Disconnected) => Suspended,
            (Suspended, ReconnectedStillOwner) => Leader,
            (Suspended, ReconnectedNotOwner) => Candidate,
            (state, Disconnected | ReconnectedStillOwner | ReconnectedNotOwner) => state,
        }
    }

    /// Whether leader-only duties may run in this state.
    pub fn acting(self) -> bool {
        self == Election::Leader
    }
}

/// Runs the election for as long as `shutdown` is not cancelled, publishing whether this node
/// acts as leader on `acting`. `info` is written into the leader znode.
pub async fn run_election(
    session: ZkSession,
    info: ControlNodeInfo,
    acting: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let data = info.to_avro();
    let mut sessions = session.subscribe();
    let mut state = Election::Candidate;
    let apply = |state: &mut Election, event: ElectionEvent| {
        let next = state.on(event);
        if next != *state {
            info!(from = ?*state, to = ?next, ?event, "control election state changed");
        }
        *state = next;
        acting
            .send_if_modified(|current| std::mem::replace(current, next.acting()) != next.acting());
    };
    'sessions: loop {
        let client = tokio::select! {
            _ = shutdown.cancelled() => break,
            client = sessions.wait_for(Option::is_some) => match client {
                Ok(client) => client.clone().expect("waited for Some"),
                Err(_) => break,
            },
        };
        let mut states = client.state_watcher();
        loop {
            // Race for the znode.
            // The leader's internode address is for the cluster only.
            let options = session
                .access()
                .create_options(zk::CreateMode::Ephemeral, Readers::Cluster);
            let outcome = client.create(LEADER_PATH, &data, &options).await;
            let watcher = match outcome {
                Ok(_) => {
                    apply(&mut state, ElectionEvent::Won);
                    None
                }
                Err(zk::Error::NodeExists) => {
                    match client.check_and_watch_stat(LEADER_PATH).await {
                        Ok((Some(stat), _)) if stat.ephemeral_owner == client.session_id().0 => {
                            apply(&mut state, ElectionEvent::Won);
                            None
                        }
                        Ok((Some(_), watcher)) => {
                            apply(&mut state, ElectionEvent::Lost);
                            Some(watcher)
                        }
                        // Vanished between create and stat: race again.
                        Ok((None, _)) => continue,
                        Err(error) => {
                            warn!(%error, "cannot watch the leader znode");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    }
                }
                Err(error)
                    if error == zk::Error::SessionExpired || error == zk::Error::ClientClosed =>
                {
                    apply(&mut state, ElectionEvent::SessionEnded);
                    continue 'sessions;
                }
                Err(error) => {
                    warn!(%error, "cannot create the leader znode");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            // Hold or wait, following the connection state.
            let deleted = async {
                match watcher {
                    Some(watcher) => {
                        watcher.changed().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::pin!(deleted);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break 'sessions,
                    _ = &mut deleted => break, // leader gone (or watch reset): race again
                    session_state = states.changed() => match session_state {
                        zk::SessionState::Disconnected => {
                            if state != Election::Standby {
                                warn!("zookeeper connection lost, stepping down until it is back");
                            }
                            apply(&mut state, ElectionEvent::Disconnected);
                        }
                        zk::SessionState::SyncConnected if state == Election::Suspended => {
                            let ours = matches!(
                                client.check_stat(LEADER_PATH).await,
                                Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0
                            );
                            let event = if ours {
                                ElectionEvent::ReconnectedStillOwner
                            } else {
                                ElectionEvent::ReconnectedNotOwner
                            };
                            apply(&mut state, event);
                            if !ours {
                                break;
                            }
                        }
                        s if s.is_terminated() => {
                            apply(&mut state, ElectionEvent::SessionEnded);
                            continue 'sessions;
                        }
                        _ => {}
                    },
                }
            }
        }
    }
    apply(&mut state, ElectionEvent::SessionEnded);
}

#[cfg(test)]
mod tests {
    use super::Election::*;
    use super::ElectionEvent::*;
    use super::*;

    fn run(events: &[ElectionEvent]) -> Vec<Election> {
        let mut state = Candidate;
        events
            .iter()
            .map(|e| {
                state = state.on(*e);
                state
            })
            .collect()
    }

    #[test]
    fn a_leader_stops_acting_as_soon_as_the_connection_drops() {
        let states = run(&[Won, Disconnected]);
        assert_eq!(states, [Leader, Suspended]);
        assert!(!Suspended.acting());
    }

    #[test]
    fn a_suspended_leader_resumes_only_if_the_znode_is_still_its_own() {
        assert_eq!(
            run(&[Won, Disconnected, ReconnectedStillOwner]),
            [Leader, Suspended, Leader]
        );
        assert_eq!(
            run(&[Won, Disconnected, ReconnectedNotOwner]),
            [Leader, Suspended, Candidate]
        );
    }

    #[test]
    fn session_end_always_drops_leadership() {
        for start in [Candidate, Leader, Suspended, Standby] {
            assert_eq!(start.on(SessionEnded), Candidate);
        }
    }

    #[test]
    fn standby_is_not_affected_by_connection_blips_and_never_acts() {
        assert_eq!(
            run(&[Lost, Disconnected, ReconnectedStillOwner]),
            [Standby, Standby, Standby]
        );
        assert!(!Standby.acting());
        assert!(Leader.acting());
    }

    #[test]
    fn a_standby_that_wins_the_next_race_leads() {
        assert_eq!(run(&[Lost, Won]), [Standby, Leader]);
    }
}
