//! Notification topics of one endpoint: which topics its groups offer, which it receives, and the
//! topic-list hash Kaa SDKs compare to learn that the list changed.
//!
//! An endpoint is offered every topic attached to one of its groups. It receives mandatory topics
//! always and optional ones after subscribing; subscriptions to topics no longer offered lapse.
//! The topic-list hash is Java's `Arrays.hashCode(long[])` over the offered wire ids in ascending
//! order, which is what the Java SDK computes from the list it was sent.

use std::collections::BTreeSet;

use kaa_store::metadata::TopicKind;

use crate::catalog::{GroupContext, TopicInfo};

/// The hash an SDK holds before it has seen any topic list.
pub const NULL_LIST_HASH: i32 = 0;

/// The topic-list hash of `topics`, as the Java SDK computes it from the list it is sent.
pub fn topic_list_hash(topics: &[TopicInfo]) -> i32 {
    kaa_idl::endpoint::sync::topic_list_hash(topics.iter().map(|t| t.wire_id))
}

/// The topics offered to an endpoint in `groups`, once each, by ascending wire id.
pub fn offered<'a>(groups: impl IntoIterator<Item = &'a GroupContext>) -> Vec<TopicInfo> {
    let mut topics: Vec<TopicInfo> = groups
        .into_iter()
        .flat_map(|g| g.topics.iter().cloned())
        .collect();
    topics.sort_by_key(|t| t.wire_id);
    topics.dedup_by_key(|t| t.wire_id);
    topics
}

/// A subscription change an endpoint asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Subscribe to an optional topic.
    Subscribe(i64),
    /// Unsubscribe from an optional topic.
    Unsubscribe(i64),
}

/// The topic ids (wire ids) an endpoint receives: every mandatory offered topic, plus the
/// optional offered ones it was subscribed to or subscribes to now, minus those it unsubscribes
/// from. Commands for topics that are not offered, or unsubscribing from a mandatory topic, are
/// ignored.
pub fn subscriptions(
    offered: &[TopicInfo],
    subscribed: impl IntoIterator<Item = i64>,
    commands: &[Command],
) -> BTreeSet<i64> {
    let kind_of = |id: i64| offered.iter().find(|t| t.wire_id == id).map(|t| t.kind);
    let mut set: BTreeSet<i64> = subscribed
        .into_iter()
        .filter(|&id| kind_of(id).is_some())
        .collect();
    set.extend(
        offered
            .iter()
            .filter(|t| t.kind == TopicKind::Mandatory)
            .map(|t| t.wire_id),
    );
    for command in commands {
        match *command {
            Command::Subscribe(id) if kind_of(id).is_some() => {
                set.insert(id);
            }
            Command::Unsubscribe(id) if kind_of(id) == Some(TopicKind::Optional) => {
                set.remove(&id);
            }
            _ => {}
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(wire_id: i64, kind: TopicKind) -> TopicInfo {
        TopicInfo {
            id: format!("t{wire_id}"),
            wire_id,
            name: format!("topic {wire_id}"),
            kind,
        }
    }

    #[test]
    fn hash_matches_java_arrays_hash_code() {
        // Arrays.hashCode(new long[0]) == 1; new long[]{1, 2} == (31 + 1) * 31 + 2 == 994;
        // a long above 32 bits folds its halves: 0x1_0000_0002 -> 3.
        assert_eq!(topic_list_hash(&[]), 1);
        let two = [
            topic(2, TopicKind::Optional),
            topic(1, TopicKind::Mandatory),
        ];
        assert_eq!(topic_list_hash(&two), 994);
        assert_eq!(
            topic_list_hash(&[topic(0x1_0000_0002, TopicKind::Optional)]),
            31 + 3
        );
        assert_ne!(topic_list_hash(&[]), NULL_LIST_HASH);
    }

    #[test]
    fn mandatory_topics_always_optional_on_request() {
        let offered = [
            topic(1, TopicKind::Mandatory),
            topic(2, TopicKind::Optional),
            topic(3, TopicKind::Optional),
        ];
        let set = subscriptions(&offered, [3, 99], &[]);
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![1, 3], "99 lapsed");
        let set = subscriptions(
            &offered,
            [3],
            &[
                Command::Subscribe(2),
                Command::Unsubscribe(3),
                Command::Unsubscribe(1),
                Command::Subscribe(42),
            ],
        );
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![1, 2]);
    }
}
