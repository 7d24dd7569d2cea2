//! Redirection rules from the Control leader's load balancer, applied by an overloaded node.
//!
//! A rule names a less loaded node (its access point id) and two probabilities: of redirecting a
//! new session there, and of redirecting one sync of a running session. As Kaa's EncDecActor
//! does, one uniform draw in [0, 1) walks the rules in turn, subtracting each rule's
//! probability, and the rule it lands in wins; past the last rule the endpoint stays. The answer
//! to a redirected request is a `REDIRECT` response naming the target; the SDK connects there.
//!
//! Unlike Kaa, rules are kept per target: a renewed rule for the same target replaces the old
//! one instead of adding to it, so overlapping rule generations never redirect more than the
//! leader asked. Every rule expires after its TTL.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One rule as the node keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The leader's rule id (for logs).
    pub rule_id: i64,
    /// Where redirected endpoints go.
    pub target: i32,
    /// Probability of redirecting a new session.
    pub initial: f64,
    /// Probability of redirecting a sync of a running session.
    pub session: f64,
    /// When it stops applying.
    pub expires: Instant,
}

/// Which kind of request is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The first request of a session (an HTTP sync is always one).
    SessionStart,
    /// A later request on a running session.
    InSession,
}

/// The rules in force on this node.
#[derive(Debug, Default)]
pub struct RedirectionRules {
    by_target: Mutex<BTreeMap<i32, Rule>>,
}

impl RedirectionRules {
    /// Puts `rule` in force, replacing an earlier rule for the same target.
    pub fn apply(&self, rule: Rule) {
        tracing::info!(
            rule_id = rule.rule_id,
            target = rule.target,
            initial = rule.initial,
            session = rule.session,
            "redirection rule applied"
        );
        self.rules().insert(rule.target, rule);
    }

    /// Builds a rule from Kaa's fields: probabilities are clamped to [0, 1], the TTL to at least
    /// zero.
    pub fn rule(
        rule_id: i64,
        target: i32,
        initial: f64,
        session: f64,
        ttl: Duration,
        now: Instant,
    ) -> Rule {
        let clamp = |p: f64| {
            if p.is_finite() {
                p.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        Rule {
            rule_id,
            target,
            initial: clamp(initial),
            session: clamp(session),
            expires: now + ttl,
        }
    }

    /// The access point to redirect a request to, for a uniform `draw` in [0, 1), or `None` to
    /// serve it here. Expired rules are dropped on the way.
    pub fn pick(&self, moment: Moment, draw: f64, now: Instant) -> Option<i32> {
        let mut rules = self.rules();
        rules.retain(|_, rule| rule.expires > now);
        let mut left = draw;
        for rule in rules.values() {
            let probability = match moment {
                Moment::SessionStart => rule.initial,
                Moment::InSession => rule.session,
            };
            if left < probability {
                return Some(rule.target);
            }
            left -= probability;
        }
        None
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Rule>> {
        self.by_target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A uniform draw in [0, 1) from the operating system's generator.
pub fn draw() -> f64 {
    // 53 random bits make every representable step of [0, 1) equally likely.
    let bits = getrandom::u64().unwrap_or(0) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(now: Instant, specs: &[(i32, f64, f64)]) -> RedirectionRules {
        let rules = RedirectionRules::default();
        for (i, &(target, initial, session)) in specs.iter().enumerate() {
            rules.apply(RedirectionRules::rule(
                i as i64,
                target,
                initial,
                session,
                Duration::from_secs(10),
                now,
            ));
        }
        rules
    }

    #[test]
    fn the_draw_lands_in_one_rule_or_stays() {
        let now = Instant::now();
        let rules = rules(now, &[(7, 0.25, 0.0), (9, 0.5, 0.1)]);
        let start = Moment::SessionStart;
        assert_eq!(rules.pick(start, 0.0, now), Some(7));
        assert_eq!(rules.pick(start, 0.2499, now), Some(7));
        assert_eq!(rules.pick(start, 0.25, now), Some(9));
        assert_eq!(rules.pick(start, 0.7499, now), Some(9));
        assert_eq!(rules.pick(start, 0.75, now), None);
        assert_eq!(rules.pick(Moment::InSession, 0.05, now), Some(9));
        assert_eq!(rules.pick(Moment::InSession, 0.1, now), None);
    }

    #[test]
    fn a_renewed_rule_replaces_the_old_one_for_its_target() {
        let now = Instant::now();
        let rules = rules(now, &[(7, 0.5, 0.0), (7, 0.1, 0.0)]);
        assert_eq!(rules.pick(Moment::SessionStart, 0.2, now), None);
        assert_eq!(rules.pick(Moment::SessionStart, 0.05, now), Some(7));
    }

    #[test]
    fn rules_expire() {
        let now = Instant::now();
        let rules = rules(now, &[(7, 1.0, 1.0)]);
        assert_eq!(rules.pick(Moment::SessionStart, 0.9, now), Some(7));
        let later = now + Duration::from_secs(10);
        assert_eq!(rules.pick(Moment::SessionStart, 0.0, later), None);
        assert!(rules.rules().is_empty(), "the expired rule is dropped");
    }

    #[test]
    fn probabilities_out_of_range_are_clamped() {
        let now = Instant::now();
        let rule = RedirectionRules::rule(1, 2, 7.0, f64::NAN, Duration::ZERO, now);
        assert_eq!((rule.initial, rule.session), (1.0, 0.0));
        let rule = RedirectionRules::rule(1, 2, -1.0, f64::INFINITY, Duration::ZERO, now);
        assert_eq!((rule.initial, rule.session), (0.0, 0.0));
    }

    #[test]
    fn draws_are_in_the_unit_interval() {
        for _ in 0..1000 {
            let d = draw();
            assert!((0.0..1.0).contains(&d), "{d}");
        }
    }
}
