//! Load balancing: the Control leader moves new sessions from overloaded Operations nodes to
//! underloaded ones.
//!
//! Kaa 0.10's endpoint-count rebalancer, kept: every Operations node publishes its endpoint count
//! in ZooKeeper; every `interval` the leader takes the latest counts and, when the most and the
//! least loaded node differ by at least `min_difference`, gives each node a weight
//! `target − count` (target = the mean). Overloaded weights are scaled by the largest overload (the
//! most overloaded node gets −1), underloaded weights by their sum (they add up to 1). Each
//! overloaded node then gets one rule per underloaded node: redirect a new session there with
//! probability `|own weight| × target weight × max_initial_redirect`, and a sync of a running
//! session with `target weight × max_session_redirect`. Rules are sent over Thrift
//! (`OperationsService.setRedirectionRule`) and expire after their TTL, so a node stops
//! redirecting by itself once the leader stops renewing them.
//!
//! [`plan`] is the pure computation; [`run_rebalancer`] is the leader's loop around it.

use std::collections::BTreeMap;
use std::time::Duration;

use kaa_cluster::Cluster;
use kaa_cluster::rpc::PeerAddr;
use kaa_idl::endpoint::crypto::access_point_id;
use kaa_idl::thrift::operations::{RedirectionRule, TOperationsServiceSyncClient};
use tokio_util::sync::CancellationToken;

/// How the leader balances load.
#[derive(Debug, Clone, PartialEq)]
pub struct RebalanceSettings {
    /// How often the rules are recomputed.
    pub interval: Duration,
    /// The endpoint-count difference between the most and least loaded nodes below which nothing
    /// is redirected.
    pub min_difference: u64,
    /// The largest share of new sessions an overloaded node redirects.
    pub max_initial_redirect: f64,
    /// The largest share of a running session's syncs an overloaded node redirects.
    pub max_session_redirect: f64,
}

impl Default for RebalanceSettings {
    /// Kaa 0.10's defaults.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            min_difference: 10_000,
            max_initial_redirect: 0.75,
            max_session_redirect: 0.0,
        }
    }
}

impl RebalanceSettings {
    /// How long a rule stays in force: two intervals, so a rule the leader renews never lapses
    /// in between, and a node stops redirecting two intervals after the leader stops asking.
    pub fn rule_ttl(&self) -> Duration {
        self.interval * 2
    }
}

/// One redirection an overloaded node applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirection {
    /// Where to: the underloaded node's access point id.
    pub target: i32,
    /// Share of new sessions sent there.
    pub initial: f64,
    /// Share of syncs of running sessions sent there.
    pub session: f64,
}

/// The redirections each overloaded node (by access point id) should apply, given every live
/// Operations node's endpoint count. Empty when there is one node or the load is even enough.
pub fn plan(
    counts: &BTreeMap<i32, u64>,
    settings: &RebalanceSettings,
) -> BTreeMap<i32, Vec<Redirection>> {
    let mut rules = BTreeMap::new();
    if counts.len() < 2 {
        return rules;
    }
    let (Some(&max), Some(&min)) = (counts.values().max(), counts.values().min()) else {
        return rules;
    };
    if max - min < settings.min_difference {
        return rules;
    }
    let total: u64 = counts.values().sum();
    let target = (total / counts.len() as u64) as f64;
    let raw: BTreeMap<i32, f64> = counts
        .iter()
        .map(|(&node, &count)| (node, target - count as f64))
        .collect();
    let underloaded_sum: f64 = raw.values().filter(|w| **w > 0.0).sum();
    let largest_overload = raw
        .values()
        .filter(|w| **w <= 0.0)
        .fold(0.0_f64, |largest, w| largest.max(w.abs()));
    let weight = |w: f64| {
        if w > 0.0 {
            w / underloaded_sum
        } else if largest_overload > 0.0 {
            w / largest_overload
        } else {
            0.0
        }
    };
    for (&node, &own) in &raw {
        let own = weight(own);
        if own >= 0.0 {
            continue;
        }
        let redirections: Vec<Redirection> = raw
            .iter()
            .filter(|(_, w)| **w > 0.0)
            .map(|(&target, &w)| Redirection {
                target,
                initial: own.abs() * weight(w) * settings.max_initial_redirect,
                session: weight(w) * settings.max_session_redirect,
            })
            .filter(|r| r.initial > 0.0 || r.session > 0.0)
            .collect();
        if !redirections.is_empty() {
            rules.insert(node, redirections);
        }
    }
    rules
}

/// While this node leads, recomputes and sends redirection rules every `settings.interval`, until
/// `shutdown`.
pub async fn run_rebalancer(
    cluster: Cluster,
    settings: RebalanceSettings,
    shutdown: CancellationToken,
) {
    let pool = cluster.operations_clients().clone();
    // Rule ids only need to differ from the ones a previous leader sent.
    let mut next_rule_id = kaa_store::metadata::now_ms().saturating_mul(1000);
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if !cluster.is_leader() {
            continue;
        }
        let view = cluster.view();
        let mut counts = BTreeMap::new();
        let mut peers = BTreeMap::new();
        for (id, info) in &view.operations {
            let connection = &info.connection_info;
            let Ok(port) = u16::try_from(connection.thrift_port) else {
                continue;
            };
            let access_point = access_point_id(&connection.thrift_host, port);
            let count = u64::try_from(info.load_info.endpoint_count).unwrap_or(0);
            counts.insert(access_point, count);
            peers.insert(
                access_point,
                (
                    id.clone(),
                    PeerAddr::new(connection.thrift_host.clone(), port),
                ),
            );
        }
        let plan = plan(&counts, &settings);
        tracing::debug!(?counts, overloaded = plan.len(), "load rebalanced");
        for (node, redirections) in plan {
            let Some((node_id, peer)) = peers.get(&node) else {
                continue;
            };
            let rules: Vec<RedirectionRule> = redirections
                .iter()
                .map(|r| {
                    next_rule_id += 1;
                    RedirectionRule {
                        access_point_id: Some(r.target),
                        rule_id: Some(next_rule_id),
                        init_redirect_probability: Some(r.initial.into()),
                        session_redirect_probability: Some(r.session.into()),
                        rule_t_t_l: Some(settings.rule_ttl().as_millis() as i64),
                    }
                })
                .collect();
            tracing::info!(node = %node_id, count = counts[&node], ?redirections, "redirecting new sessions from an overloaded node");
            let sent = pool
                .call(peer, move |client| {
                    rules
                        .into_iter()
                        .try_for_each(|rule| client.set_redirection_rule(rule))
                })
                .await;
            if let Err(error) = sent {
                tracing::warn!(node = %node_id, %error, "redirection rules not delivered");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min_difference: u64) -> RebalanceSettings {
        RebalanceSettings {
            min_difference,
            ..RebalanceSettings::default()
        }
    }

    fn counts(pairs: &[(i32, u64)]) -> BTreeMap<i32, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn one_node_or_an_even_enough_load_redirects_nothing() {
        assert!(plan(&counts(&[(1, 50_000)]), &settings(10)).is_empty());
        assert!(plan(&counts(&[(1, 100), (2, 95)]), &settings(10)).is_empty());
        assert!(plan(&BTreeMap::new(), &settings(0)).is_empty());
    }

    #[test]
    fn all_on_one_node_spreads_to_the_others_evenly() {
        let plan = plan(&counts(&[(1, 30), (2, 0), (3, 0)]), &settings(10));
        assert_eq!(plan.len(), 1);
        let rules = &plan[&1];
        assert_eq!(rules.len(), 2);
        for rule in rules {
            assert!((rule.initial - 0.375).abs() < 1e-9, "{rule:?}");
            assert_eq!(rule.session, 0.0);
        }
        let targets: Vec<i32> = rules.iter().map(|r| r.target).collect();
        assert_eq!(targets, [2, 3]);
    }

    #[test]
    fn the_emptier_node_gets_the_larger_share() {
        // Target 40: node 2 lacks 30, node 3 lacks 10; node 1 is the only overloaded one.
        let plan = plan(&counts(&[(1, 80), (2, 10), (3, 30)]), &settings(10));
        let rules = &plan[&1];
        assert!((rules[0].initial - 0.75 * 0.75).abs() < 1e-9);
        assert!((rules[1].initial - 0.25 * 0.75).abs() < 1e-9);
    }

    #[test]
    fn a_less_overloaded_node_redirects_less() {
        // Target 40: nodes 1 and 2 are 40 and 20 over (weights −1, −0.5), 3 and 4 are under.
        let plan = plan(&counts(&[(1, 80), (2, 60), (3, 0), (4, 20)]), &settings(10));
        let share = |node: i32| plan[&node].iter().map(|r| r.initial).sum::<f64>();
        assert!((share(1) - 0.75).abs() < 1e-9);
        assert!((share(2) - 0.375).abs() < 1e-9);
        assert!(!plan.contains_key(&3) && !plan.contains_key(&4));
    }

    #[test]
    fn session_redirects_follow_the_session_maximum() {
        let settings = RebalanceSettings {
            min_difference: 1,
            max_session_redirect: 0.2,
            ..RebalanceSettings::default()
        };
        let plan = plan(&counts(&[(1, 10), (2, 0)]), &settings);
        assert!((plan[&1][0].session - 0.2).abs() < 1e-9);
    }

    #[test]
    fn redirect_shares_never_exceed_the_maximum() {
        for spread in [
            [5u64, 0, 0, 0],
            [100, 99, 0, 1],
            [7, 7, 7, 0],
            [1000, 0, 500, 250],
        ] {
            let counts: BTreeMap<i32, u64> = (1..).zip(spread).collect();
            for rules in plan(&counts, &settings(1)).values() {
                let total: f64 = rules.iter().map(|r| r.initial).sum();
                assert!(total <= 0.75 + 1e-9, "{spread:?}: {total}");
                assert!(
                    rules
                        .iter()
                        .all(|r| counts[&r.target] < counts.values().max().copied().unwrap())
                );
            }
        }
    }
}
