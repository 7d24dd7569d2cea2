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
    /// An endpoint group was created.
    GroupAdded {
        /// The new group.
        group_id: String,
    },
    /// An endpoint group was deleted.
    GroupRemoved {
        /// The deleted group.
        group_id: String,
    },
    /// A notification topic was attached to a group.
    TopicAttached {
        /// The group.
        group_id: String,
        /// The topic.
        topic_id: String,
    },
    /// A notification topic was detached from a group.
    TopicDetached {
        /// The group.
        group_id: String,
        /// The topic.
        topic_id: String,
    },
    /// A group's configuration was activated.
    ConfigurationActivated {
        /// The group.
        group_id: String,
        /// The configuration.
        configuration_id: String,
    },
    /// A group's active configuration was taken out of effect.
    ConfigurationDeactivated {
        /// The group.
        group_id: String,
        /// The configuration.
        configuration_id: String,
    },
    /// A group's profile filter was activated.
    FilterActivated {
        /// The group.
        group_id: String,
        /// The profile filter.
        profile_filter_id: String,
    },
    /// A group's active profile filter was taken out of effect.
    FilterDeactivated {
        /// The group.
        group_id: String,
        /// The profile filter.
        profile_filter_id: String,
    },
    /// A log appender was added.
    AppenderAdded {
        /// The appender.
        appender_id: String,
    },
    /// A log appender was removed.
    AppenderRemoved {
        /// The appender.
        appender_id: String,
    },
    /// A user verifier was added.
    VerifierAdded {
        /// The token SDKs name it by.
        verifier_token: String,
    },
    /// A user verifier was removed.
    VerifierRemoved {
        /// The token SDKs named it by.
        verifier_token: String,
    },
    /// A notification was stored for every endpoint receiving a topic. It is not a change-log
    /// entry: its announcement carries no sequence number.
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
    /// logged (topic notifications).
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
        let mut notification = Notification {
            app_id: Some(self.app_id.clone()),
            app_seq_number: self.seq.and_then(|seq| i32::try_from(seq).ok()),
            ..Notification::default()
        };
        let n = &mut notification;
        let op = match &self.change {
            Change::Application => Operation::APP_UPDATE,
            Change::GroupAdded { group_id } => {
                n.group_id = Some(group_id.clone());
                Operation::INSERT
            }
            Change::GroupRemoved { group_id } => {
                n.group_id = Some(group_id.clone());
                Operation::REMOVE_GROUP
            }
            Change::TopicAttached { group_id, topic_id } => {
                (n.group_id, n.topic_id) = (Some(group_id.clone()), Some(topic_id.clone()));
                Operation::ADD_TOPIC
            }
            Change::TopicDetached { group_id, topic_id } => {
                (n.group_id, n.topic_id) = (Some(group_id.clone()), Some(topic_id.clone()));
                Operation::REMOVE_TOPIC
            }
            Change::ConfigurationActivated {
                group_id,
                configuration_id,
            } => {
                (n.group_id, n.configuration_id) =
                    (Some(group_id.clone()), Some(configuration_id.clone()));
                Operation::ADD_CONF
            }
            Change::ConfigurationDeactivated {
                group_id,
                configuration_id,
            } => {
                (n.group_id, n.configuration_id) =
                    (Some(group_id.clone()), Some(configuration_id.clone()));
                Operation::REMOVE_CONF
            }
            Change::FilterActivated {
                group_id,
                profile_filter_id,
            } => {
                (n.group_id, n.profile_filter_id) =
                    (Some(group_id.clone()), Some(profile_filter_id.clone()));
                Operation::ADD_PROF
            }
            Change::FilterDeactivated {
                group_id,
                profile_filter_id,
            } => {
                (n.group_id, n.profile_filter_id) =
                    (Some(group_id.clone()), Some(profile_filter_id.clone()));
                Operation::REMOVE_PROF
            }
            Change::AppenderAdded { appender_id } => {
                n.appender_id = Some(appender_id.clone());
                Operation::ADD_LOG_APPENDER
            }
            Change::AppenderRemoved { appender_id } => {
                n.appender_id = Some(appender_id.clone());
                Operation::REMOVE_LOG_APPENDER
            }
            Change::VerifierAdded { verifier_token } => {
                n.user_verifier_token = Some(verifier_token.clone());
                Operation::ADD_USER_VERIFIER
            }
            Change::VerifierRemoved { verifier_token } => {
                n.user_verifier_token = Some(verifier_token.clone());
                Operation::REMOVE_USER_VERIFIER
            }
            Change::TopicNotification {
                topic_id,
                notification_id,
            } => {
                (n.topic_id, n.notification_id) =
                    (Some(topic_id.clone()), Some(notification_id.clone()));
                Operation::INSERT
            }
        };
        notification.op = Some(op);
        notification
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> String {
        s.to_owned()
    }

    /// What the admin API announced before there were typed changes: the application, its
    /// sequence number and the operation, and then the ids of what changed.
    fn expected(seq: Option<i32>, op: Operation) -> Notification {
        Notification {
            app_id: Some(id("app")),
            app_seq_number: seq,
            op: Some(op),
            ..Notification::default()
        }
    }

    #[test]
    fn application_changes_carry_only_the_application_and_its_sequence_number() {
        let got = Announcement::logged("app", 7, Change::Application).notification();
        assert_eq!(got, expected(Some(7), Operation::APP_UPDATE));
    }

    #[test]
    fn group_changes_name_the_group() {
        let added = Change::GroupAdded { group_id: id("g") };
        let removed = Change::GroupRemoved { group_id: id("g") };
        for (change, op) in [
            (added, Operation::INSERT),
            (removed, Operation::REMOVE_GROUP),
        ] {
            let got = Announcement::logged("app", 3, change).notification();
            let want = Notification {
                group_id: Some(id("g")),
                ..expected(Some(3), op)
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn topic_attachments_name_the_group_and_the_topic() {
        let attached = Change::TopicAttached {
            group_id: id("g"),
            topic_id: id("t"),
        };
        let detached = Change::TopicDetached {
            group_id: id("g"),
            topic_id: id("t"),
        };
        for (change, op) in [
            (attached, Operation::ADD_TOPIC),
            (detached, Operation::REMOVE_TOPIC),
        ] {
            let got = Announcement::logged("app", 4, change).notification();
            let want = Notification {
                group_id: Some(id("g")),
                topic_id: Some(id("t")),
                ..expected(Some(4), op)
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn configuration_changes_name_the_group_and_the_configuration() {
        let on = Change::ConfigurationActivated {
            group_id: id("g"),
            configuration_id: id("c"),
        };
        let off = Change::ConfigurationDeactivated {
            group_id: id("g"),
            configuration_id: id("c"),
        };
        for (change, op) in [(on, Operation::ADD_CONF), (off, Operation::REMOVE_CONF)] {
            let got = Announcement::logged("app", 5, change).notification();
            let want = Notification {
                group_id: Some(id("g")),
                configuration_id: Some(id("c")),
                ..expected(Some(5), op)
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn filter_changes_name_the_group_and_the_filter() {
        let on = Change::FilterActivated {
            group_id: id("g"),
            profile_filter_id: id("f"),
        };
        let off = Change::FilterDeactivated {
            group_id: id("g"),
            profile_filter_id: id("f"),
        };
        for (change, op) in [(on, Operation::ADD_PROF), (off, Operation::REMOVE_PROF)] {
            let got = Announcement::logged("app", 6, change).notification();
            let want = Notification {
                group_id: Some(id("g")),
                profile_filter_id: Some(id("f")),
                ..expected(Some(6), op)
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn appender_and_verifier_changes_name_the_appender_or_the_verifier_token() {
        let cases = [
            (
                Change::AppenderAdded {
                    appender_id: id("a"),
                },
                Operation::ADD_LOG_APPENDER,
            ),
            (
                Change::AppenderRemoved {
                    appender_id: id("a"),
                },
                Operation::REMOVE_LOG_APPENDER,
            ),
        ];
        for (change, op) in cases {
            let got = Announcement::logged("app", 8, change).notification();
            let want = Notification {
                appender_id: Some(id("a")),
                ..expected(Some(8), op)
            };
            assert_eq!(got, want);
        }
        let cases = [
            (
                Change::VerifierAdded {
                    verifier_token: id("v"),
                },
                Operation::ADD_USER_VERIFIER,
            ),
            (
                Change::VerifierRemoved {
                    verifier_token: id("v"),
                },
                Operation::REMOVE_USER_VERIFIER,
            ),
        ];
        for (change, op) in cases {
            let got = Announcement::logged("app", 9, change).notification();
            let want = Notification {
                user_verifier_token: Some(id("v")),
                ..expected(Some(9), op)
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn topic_notifications_carry_no_sequence_number() {
        let announcement = Announcement {
            app_id: id("app"),
            seq: None,
            change: Change::TopicNotification {
                topic_id: id("t"),
                notification_id: id("n"),
            },
        };
        let want = Notification {
            topic_id: Some(id("t")),
            notification_id: Some(id("n")),
            ..expected(None, Operation::INSERT)
        };
        assert_eq!(announcement.notification(), want);
    }

    #[test]
    fn a_sequence_number_beyond_thrift_integers_is_left_out() {
        let got = Announcement::logged("app", i64::from(i32::MAX) + 1, Change::Application)
            .notification();
        assert_eq!(got.app_seq_number, None);
    }
}
