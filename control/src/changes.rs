//! What changed in an application's metadata, as Operations must hear of it.
//!
//! Every write the admin API makes that Operations nodes act on is described by one [`Change`]
//! and sent as an [`Announcement`]: the change, its application and the change-log sequence number
//! the write got. Only here does a change become the Thrift `Notification` that
//! `OperationsService.onNotification` carries ([`Announcement::notification`]), so the admin API
//! itself never sees Thrift types.

use kaa_idl::thrift::operations::{Notification, Operation};

/// One change Operations nodes act on, with the ids they need to find what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The application itself changed (name, credentials service) or one of its event maps was
    /// added or removed: Operations reloads the application.
    Application,
    /// An endpoint group was created or deleted.
    Group {
        /// The group.
        group_id: String,
        /// Created (true) or deleted (false).
        added: bool,
    },
    /// A notification topic was attached to a group or detached from it.
    TopicAttachment {
        /// The group.
        group_id: String,
        /// The topic.
        topic_id: String,
        /// Attached (true) or detached (false).
        attached: bool,
    },
    /// A group's configuration was activated or taken out of effect.
    Configuration {
        /// The group.
        group_id: String,
        /// The configuration.
        configuration_id: String,
        /// Activated (true) or deactivated (false).
        active: bool,
    },
    /// A group's profile filter was activated or taken out of effect.
    ProfileFilter {
        /// The group.
        group_id: String,
        /// The profile filter.
        profile_filter_id: String,
        /// Activated (true) or deactivated (false).
        active: bool,
    },
    /// A log appender was added or removed.
    Appender {
        /// The appender.
        appender_id: String,
        /// Added (true) or removed (false).
        added: bool,
    },
    /// A user verifier was added or removed.
    Verifier {
        /// The token SDKs name it by.
        verifier_token: String,
        /// Added (true) or removed (false).
        added: bool,
    },
    /// A notification was stored for every endpoint receiving a topic. It is not a change-log
    /// entry: its announcement carries no sequence number of its own.
    TopicNotification {
        /// The topic.
        topic_id: String,
        /// The stored notification.
        notification_id: String,
    },
}

/// A change of one application, to be announced to every live Operations node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The application.
    pub app_id: String,
    /// The application's change-log sequence number of the change; `None` for what is not
    /// logged (topic notifications), whose notification keeps Thrift's default number.
    pub seq: Option<i64>,
    /// What changed.
    pub change: Change,
}

impl Announcement {
    /// Change `change` of application `app_id`, logged as its change `seq`.
    pub fn logged(app_id: impl Into<String>, seq: i64, change: Change) -> Self {
        Self {
            app_id: app_id.into(),
            seq: Some(seq),
            change,
        }
    }

    /// The Thrift notification `OperationsService.onNotification` carries for this change.
    pub fn notification(&self) -> Notification {
        // Unset ids keep Thrift's defaults (empty ids, sequence numbers 0), as Operations has
        // always received them.
        let mut n = Notification {
            app_id: Some(self.app_id.clone()),
            ..Notification::default()
        };
        if let Some(seq) = self.seq {
            n.app_seq_number = i32::try_from(seq).ok();
        }
        let pick = |yes: bool, on: Operation, off: Operation| if yes { on } else { off };
        let op = match &self.change {
            Change::Application => Operation::APP_UPDATE,
            Change::Group { group_id, added } => {
                n.group_id = Some(group_id.clone());
                pick(*added, Operation::INSERT, Operation::REMOVE_GROUP)
            }
            Change::TopicAttachment {
                group_id,
                topic_id,
                attached,
            } => {
                (n.group_id, n.topic_id) = (Some(group_id.clone()), Some(topic_id.clone()));
                pick(*attached, Operation::ADD_TOPIC, Operation::REMOVE_TOPIC)
            }
            Change::Configuration {
                group_id,
                configuration_id,
                active,
            } => {
                n.group_id = Some(group_id.clone());
                n.configuration_id = Some(configuration_id.clone());
                pick(*active, Operation::ADD_CONF, Operation::REMOVE_CONF)
            }
            Change::ProfileFilter {
                group_id,
                profile_filter_id,
                active,
            } => {
                n.group_id = Some(group_id.clone());
                n.profile_filter_id = Some(profile_filter_id.clone());
                pick(*active, Operation::ADD_PROF, Operation::REMOVE_PROF)
            }
            Change::Appender { appender_id, added } => {
                n.appender_id = Some(appender_id.clone());
                let (on, off) = (Operation::ADD_LOG_APPENDER, Operation::REMOVE_LOG_APPENDER);
                pick(*added, on, off)
            }
            Change::Verifier {
                verifier_token,
                added,
            } => {
                n.user_verifier_token = Some(verifier_token.clone());
                let (on, off) = (
                    Operation::ADD_USER_VERIFIER,
                    Operation::REMOVE_USER_VERIFIER,
                );
                pick(*added, on, off)
            }
            Change::TopicNotification {
                topic_id,
                notification_id,
            } => {
                n.topic_id = Some(topic_id.clone());
                n.notification_id = Some(notification_id.clone());
                Operation::INSERT
            }
        };
        n.op = Some(op);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id and per-record sequence number in which a notification differs from
    /// `Notification::default()` (which the admin API has always started from), in one line, so
    /// a table can say exactly what each change sends and that nothing else is set.
    fn ids(n: &Notification) -> String {
        let d = Notification::default();
        let set = [
            ("app", &n.app_id, &d.app_id),
            ("group", &n.group_id, &d.group_id),
            ("filter", &n.profile_filter_id, &d.profile_filter_id),
            ("conf", &n.configuration_id, &d.configuration_id),
            ("notification", &n.notification_id, &d.notification_id),
            ("topic", &n.topic_id, &d.topic_id),
            ("appender", &n.appender_id, &d.appender_id),
            ("verifier", &n.user_verifier_token, &d.user_verifier_token),
        ];
        let seqs = [
            (n.group_seq_number, d.group_seq_number),
            (n.profile_filter_seq_number, d.profile_filter_seq_number),
            (n.configuration_seq_number, d.configuration_seq_number),
        ];
        let mut line: Vec<String> = set
            .into_iter()
            .filter(|(_, value, default)| value != default)
            .map(|(name, value, _)| format!("{name}={}", value.as_deref().unwrap_or("-")))
            .collect();
        line.extend(
            seqs.into_iter()
                .filter(|(value, default)| value != default)
                .map(|(value, _)| format!("seq={value:?}")),
        );
        line.join(" ")
    }

    fn s(text: &str) -> String {
        text.to_owned()
    }

    /// The notifications the admin API sent for each change before changes were typed: the
    /// application, its sequence number, the operation and the ids of what changed.
    #[test]
    fn each_change_becomes_the_notification_operations_has_always_received() {
        let group = |added| Change::Group {
            group_id: s("g"),
            added,
        };
        let topic = |attached| Change::TopicAttachment {
            group_id: s("g"),
            topic_id: s("t"),
            attached,
        };
        let conf = |active| Change::Configuration {
            group_id: s("g"),
            configuration_id: s("c"),
            active,
        };
        let filter = |active| Change::ProfileFilter {
            group_id: s("g"),
            profile_filter_id: s("f"),
            active,
        };
        let appender = |added| Change::Appender {
            appender_id: s("a"),
            added,
        };
        let verifier = |added| Change::Verifier {
            verifier_token: s("v"),
            added,
        };
        use Operation as Op;
        let cases = [
            (Change::Application, Op::APP_UPDATE, "app=app"),
            (group(true), Op::INSERT, "app=app group=g"),
            (group(false), Op::REMOVE_GROUP, "app=app group=g"),
            (topic(true), Op::ADD_TOPIC, "app=app group=g topic=t"),
            (topic(false), Op::REMOVE_TOPIC, "app=app group=g topic=t"),
            (conf(true), Op::ADD_CONF, "app=app group=g conf=c"),
            (conf(false), Op::REMOVE_CONF, "app=app group=g conf=c"),
            (filter(true), Op::ADD_PROF, "app=app group=g filter=f"),
            (filter(false), Op::REMOVE_PROF, "app=app group=g filter=f"),
            (appender(true), Op::ADD_LOG_APPENDER, "app=app appender=a"),
            (
                appender(false),
                Op::REMOVE_LOG_APPENDER,
                "app=app appender=a",
            ),
            (verifier(true), Op::ADD_USER_VERIFIER, "app=app verifier=v"),
            (
                verifier(false),
                Op::REMOVE_USER_VERIFIER,
                "app=app verifier=v",
            ),
        ];
        for (change, op, want) in cases {
            let got = Announcement::logged("app", 7, change.clone()).notification();
            assert_eq!(got.op, Some(op), "{change:?}");
            assert_eq!(got.app_seq_number, Some(7), "{change:?}");
            assert_eq!(ids(&got), want, "{change:?}");
        }
    }

    #[test]
    fn topic_notifications_keep_the_default_sequence_number() {
        let announcement = Announcement {
            app_id: s("app"),
            seq: None,
            change: Change::TopicNotification {
                topic_id: s("t"),
                notification_id: s("n"),
            },
        };
        let got = announcement.notification();
        assert_eq!(got.op, Some(Operation::INSERT));
        assert_eq!(got.app_seq_number, Notification::default().app_seq_number);
        assert_eq!(ids(&got), "app=app notification=n topic=t");
    }

    #[test]
    fn a_sequence_number_beyond_thrift_integers_is_left_out() {
        let change = Announcement::logged("app", i64::from(i32::MAX) + 1, Change::Application);
        assert_eq!(change.notification().app_seq_number, None);
    }
}
