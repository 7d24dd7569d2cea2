//! Each tracked application's last applied change-log number, and what a numbered change
//! notification says about the ones before it: the pure part of catching up on missed
//! notifications ([`crate::catch_up`]).

use std::collections::HashMap;

/// What a sequenced notification tells about the notifications before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The application is not tracked here (never loaded): nothing of it is cached to be stale.
    Untracked,
    /// The next number: nothing was missed.
    InOrder,
    /// Numbers were skipped: `missed` notifications never arrived (or are still on their way).
    Gap {
        /// How many numbers were skipped.
        missed: i64,
    },
    /// A number already applied (a late or repeated notification).
    Old,
}

/// The last change-log number applied per tracked application (see the module docs).
#[derive(Debug, Default)]
pub struct Sequences {
    applied: HashMap<String, i64>,
}

impl Sequences {
    /// The catalog loaded `app_id` at change `seq`: tracking starts there unless it runs already.
    pub fn loaded(&mut self, app_id: &str, seq: i64) {
        self.applied.entry(app_id.to_owned()).or_insert(seq);
    }

    /// A notification of change `seq` of `app_id` arrived; the number applied moves up to it.
    pub fn observe(&mut self, app_id: &str, seq: i64) -> Observed {
        let Some(applied) = self.applied.get_mut(app_id) else {
            return Observed::Untracked;
        };
        let observed = match seq - *applied {
            1 => Observed::InOrder,
            step if step > 1 => Observed::Gap { missed: step - 1 },
            _ => return Observed::Old,
        };
        *applied = seq;
        observed
    }

    /// The store says the latest change of `app_id` is `latest`: whether the node must catch up
    /// (any difference; a store restored from a backup can be behind). The number applied
    /// becomes `latest`.
    pub fn check(&mut self, app_id: &str, latest: i64) -> bool {
        match self.applied.get_mut(app_id) {
            Some(applied) if *applied != latest => {
                *applied = latest;
                true
            }
            _ => false,
        }
    }

    /// The store failed, and `app_id` is served as loaded at change `seq`: the number applied
    /// goes back to it, so the check catches up once the store answers with a later one.
    pub fn fell_back(&mut self, app_id: &str, seq: i64) {
        self.applied.insert(app_id.to_owned(), seq);
    }

    /// Stops tracking `app_id` (it was deleted).
    pub fn forget(&mut self, app_id: &str) {
        self.applied.remove(app_id);
    }

    /// Every tracked application and its number applied.
    pub fn tracked(&self) -> Vec<(String, i64)> {
        self.applied
            .iter()
            .map(|(app, seq)| (app.clone(), *seq))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_never_loaded_is_not_tracked() {
        let mut sequences = Sequences::default();
        assert_eq!(sequences.observe("app", 4), Observed::Untracked);
        assert!(!sequences.check("app", 9));
        assert!(sequences.tracked().is_empty());
    }

    #[test]
    fn consecutive_numbers_are_in_order_and_a_skipped_one_is_a_gap() {
        let mut sequences = Sequences::default();
        sequences.loaded("app", 3);
        assert_eq!(sequences.observe("app", 4), Observed::InOrder);
        assert_eq!(sequences.observe("app", 7), Observed::Gap { missed: 2 });
        assert_eq!(sequences.observe("app", 8), Observed::InOrder);
        assert_eq!(sequences.tracked(), vec![("app".to_owned(), 8)]);
    }

    #[test]
    fn late_and_repeated_notifications_are_old_and_do_not_move_the_number_back() {
        let mut sequences = Sequences::default();
        sequences.loaded("app", 5);
        assert_eq!(sequences.observe("app", 5), Observed::Old);
        assert_eq!(sequences.observe("app", 2), Observed::Old);
        assert_eq!(sequences.observe("app", 6), Observed::InOrder);
    }

    #[test]
    fn a_later_load_does_not_move_the_number_the_sessions_were_told() {
        let mut sequences = Sequences::default();
        sequences.loaded("app", 5);
        sequences.loaded("app", 6);
        assert_eq!(sequences.tracked(), vec![("app".to_owned(), 5)]);
        assert!(
            sequences.check("app", 6),
            "change 6 was never announced here"
        );
    }

    #[test]
    fn serving_an_older_load_while_the_store_fails_is_caught_up_by_the_check() {
        let mut sequences = Sequences::default();
        sequences.loaded("app", 5);
        assert_eq!(sequences.observe("app", 6), Observed::InOrder);
        sequences.fell_back("app", 5);
        assert!(
            sequences.check("app", 6),
            "change 6 is not in what is served"
        );
        assert!(!sequences.check("app", 6));
    }

    #[test]
    fn the_check_catches_up_on_any_difference_once() {
        let mut sequences = Sequences::default();
        sequences.loaded("app", 5);
        assert!(!sequences.check("app", 5));
        assert!(sequences.check("app", 6));
        assert!(!sequences.check("app", 6), "caught up");
        assert!(sequences.check("app", 2), "a store restored from a backup");
        assert_eq!(sequences.observe("app", 3), Observed::InOrder);
        sequences.forget("app");
        assert!(sequences.tracked().is_empty());
    }
}
