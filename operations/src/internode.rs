//! The Operations service's internode inbox: what it answers as `OperationsService` on the
//! node's Thrift port.
//!
//! The node's Thrift server runs [`OperationsInbox`] on its connection tasks, so every call does
//! only quick work. Control's change notifications invalidate the application's cached
//! metadata and queue pushes for its connected sessions, and a notification that skips
//! change-log numbers is counted as a gap ([`crate::catch_up`]); the Control leader's redirection rules
//! go to the load-balancing rules; event-routing messages and listener queries from other
//! Operations nodes go to event routing. Messages for one endpoint (unicast notification,
//! server profile, deregistration, owner change) are decoded with
//! [`kaa_cluster::routing::wire::decode`] and either pushed to the endpoint's session here
//! (local hop) or forwarded to the node serving it (global hop, this node owns the endpoint on
//! the ring). Calls whose handling has no use here (Kaa's entity route messages, user
//! configuration updates) are logged.
//!
//! [`InboxMetrics`] counts what arrived (`kaa_internode_*` on `/metrics`).

use std::sync::Arc;

use kaa_cluster::routing::wire::{self, AddressedMessage, WireMessage};
use kaa_cluster::routing::{EndpointAddress, EndpointMessage, EndpointRouter, Hop};
use kaa_idl::thrift::operations::{
    Message, Notification, OperationsServiceSyncHandler, RedirectionRule,
    ThriftEndpointDeregistrationMessage, ThriftEntityRouteMessage, ThriftOwnerChangeMessage,
    ThriftServerProfileUpdateMessage, ThriftUnicastNotificationMessage, UserConfigurationUpdate,
};
use kaa_store::endpoint::EndpointStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use thrift::{ApplicationError, ApplicationErrorKind};
use tracing::{debug, info, warn};

use crate::catch_up::CatchUp;
use crate::credentials::CredentialCache;
use crate::events::EventRouting;
use crate::redirection::RedirectionRules;
use crate::sessions::{Push, Sessions};

/// The `OperationsService` counters. Every node registers them, so `/metrics` shows the same
/// names whatever services it runs; only an Operations node's inbox counts.
#[derive(Clone, Default)]
pub struct InboxMetrics {
    /// Control's metadata change notifications (`onNotification`).
    pub notifications: Counter,
    /// The Control leader's redirection rules (`setRedirectionRule`).
    pub redirection_rules: Counter,
    /// Event-routing messages from Operations nodes (`sendMessages`), counted one by one.
    pub event_messages: Counter,
}

impl InboxMetrics {
    /// Registers the counters in `registry` as `kaa_internode_notifications`,
    /// `kaa_internode_redirection_rules` and `kaa_internode_event_messages`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "kaa_internode_notifications",
            "Metadata change notifications received from Control (OperationsService.onNotification)",
            metrics.notifications.clone(),
        );
        registry.register(
            "kaa_internode_redirection_rules",
            "Load-balancing redirection rules received from the Control leader (OperationsService.setRedirectionRule)",
            metrics.redirection_rules.clone(),
        );
        registry.register(
            "kaa_internode_event_messages",
            "Event-routing messages (route updates and events) received from Operations nodes (OperationsService.sendMessages)",
            metrics.event_messages.clone(),
        );
        metrics
    }
}

/// `OperationsService` for one Operations node: applies Control's notifications and
/// endpoint-directed messages to it and answers other Operations nodes' event routing. Cheap to
/// clone.
#[derive(Clone)]
pub struct OperationsInbox {
    pub(crate) catch_up: Arc<CatchUp>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) redirection: Arc<RedirectionRules>,
    pub(crate) events: Arc<EventRouting>,
    pub(crate) store: EndpointStore,
    pub(crate) router: EndpointRouter,
    pub(crate) node_id: String,
    pub(crate) credentials: Arc<CredentialCache>,
    pub(crate) metrics: InboxMetrics,
}

impl OperationsServiceSyncHandler for OperationsInbox {
    fn handle_on_notification(&self, notification: Notification) -> thrift::Result<()> {
        self.metrics.notifications.inc();
        info!(
            op = ?notification.op,
            app = ?notification.app_id,
            app_seq = ?notification.app_seq_number,
            topic = ?notification.topic_id,
            "metadata change notification received"
        );
        self.on_notification(&notification);
        Ok(())
    }

    fn handle_set_redirection_rule(&self, rule: RedirectionRule) -> thrift::Result<()> {
        self.metrics.redirection_rules.inc();
        self.on_redirection_rule(&rule);
        Ok(())
    }

    /// Route updates for the owner tables held here, events to route or to deliver; fails when
    /// the event queues are full, so the sender retries.
    fn handle_send_messages(&self, messages: Vec<Message>) -> thrift::Result<()> {
        self.metrics.event_messages.inc_by(messages.len() as u64);
        self.events.on_messages(messages).map_err(|error| {
            thrift::Error::Application(ApplicationError::new(
                ApplicationErrorKind::InternalError,
                error.to_string(),
            ))
        })
    }

    /// Another node's query: the endpoints of `user_id` other than `requester` that receive
    /// every class in `event_class_fqns`.
    fn handle_find_event_listeners(
        &self,
        user_id: String,
        event_class_fqns: Vec<String>,
        requester: Vec<u8>,
    ) -> thrift::Result<Vec<Vec<u8>>> {
        Ok(self
            .events
            .find_listeners(&user_id, &event_class_fqns, &requester))
    }

    fn handle_on_owner_change(&self, message: ThriftOwnerChangeMessage) -> thrift::Result<()> {
        self.deliver(WireMessage::OwnerChange(message));
        Ok(())
    }

    fn handle_send_user_configuration_updates(
        &self,
        updates: Vec<UserConfigurationUpdate>,
    ) -> thrift::Result<()> {
        info!(
            count = updates.len(),
            "user configuration updates received and ignored: kaa-rs tells the owner's endpoints through the endpoint route"
        );
        Ok(())
    }

    fn handle_on_entity_route_messages(
        &self,
        messages: Vec<ThriftEntityRouteMessage>,
    ) -> thrift::Result<()> {
        info!(
            count = messages.len(),
            "entity route messages received and ignored: kaa-rs routes endpoint messages through the ring owner"
        );
        Ok(())
    }

    fn handle_on_unicast_notification(
        &self,
        message: ThriftUnicastNotificationMessage,
    ) -> thrift::Result<()> {
        self.deliver(WireMessage::Unicast(message));
        Ok(())
    }

    fn handle_on_server_profile_update(
        &self,
        message: ThriftServerProfileUpdateMessage,
    ) -> thrift::Result<()> {
        self.deliver(WireMessage::ServerProfile(message));
        Ok(())
    }

    fn handle_on_endpoint_deregistration(
        &self,
        message: ThriftEndpointDeregistrationMessage,
    ) -> thrift::Result<()> {
        self.deliver(WireMessage::Deregistration(message));
        Ok(())
    }
}

impl OperationsInbox {
    /// A metadata change: the application's cached metadata is dropped and its connected
    /// endpoints resync (a new topic notification makes them fetch notifications). A topic
    /// notification is no change-log entry: its sequence number (Thrift's default 0) is not one.
    fn on_notification(&self, notification: &Notification) {
        let Some(app_id) = notification.app_id.as_deref() else {
            return;
        };
        let (push, seq) = if notification.notification_id.is_some() {
            (Push::Notifications, None)
        } else {
            let seq = notification.app_seq_number.filter(|seq| *seq > 0);
            (Push::Resync, seq.map(i64::from))
        };
        self.catch_up.on_notification(app_id, seq, &push);
    }

    /// A redirection rule from the Control leader's load balancer: until it expires, a share of
    /// this node's new sessions (and of running sessions' syncs) is sent to its target.
    fn on_redirection_rule(&self, rule: &RedirectionRule) {
        let (Some(target), Some(rule_id)) = (rule.access_point_id, rule.rule_id) else {
            warn!(?rule, "redirection rule without a target or id ignored");
            return;
        };
        let ttl = std::time::Duration::from_millis(rule.rule_t_t_l.unwrap_or(0).max(0) as u64);
        self.redirection.apply(RedirectionRules::rule(
            rule_id,
            target,
            rule.init_redirect_probability.map_or(0.0, |p| p.0),
            rule.session_redirect_probability.map_or(0.0, |p| p.0),
            ttl,
            std::time::Instant::now(),
        ));
    }

    /// Decodes a message for one endpoint and hands it on; one that names no endpoint is
    /// logged and dropped.
    fn deliver(&self, wire: WireMessage) {
        match wire::decode(wire) {
            Ok(AddressedMessage {
                hop,
                address,
                message,
            }) => {
                debug!(?message, ?hop, "endpoint message received");
                self.on_endpoint_message(hop, address, message);
            }
            Err(error) => warn!(message = ?error.message(), "{error}"),
        }
    }

    /// A message for one endpoint. On the local hop it becomes a push to the endpoint's session
    /// here, if there is one. On the global hop (this node owns the endpoint on the ring) it is
    /// forwarded to the node its profile says serves it, in the background.
    fn on_endpoint_message(&self, hop: Hop, address: EndpointAddress, message: EndpointMessage) {
        let push = match &message {
            EndpointMessage::Unicast(_) => Push::Notifications,
            EndpointMessage::ServerProfile => Push::ServerProfile,
            EndpointMessage::Deregistration => {
                // On the endpoint's ring owner and on the node serving it alike.
                self.credentials.forget(&address.key_hash);
                Push::Revoked
            }
            EndpointMessage::OwnerChanged { by_access_token } => {
                Push::OwnerChanged(by_access_token.clone())
            }
        };
        if hop == Hop::Local {
            let delivered = self.sessions.push(&address.key_hash, push);
            debug!(?message, delivered, "endpoint message");
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let node = match this.store.profile(&address.key_hash).await {
                Ok(Some(profile)) => profile.node_id,
                Ok(None) => None,
                Err(error) => {
                    warn!(%error, "cannot route an endpoint message");
                    return;
                }
            };
            match node {
                Some(node) if node == this.node_id => {
                    this.sessions.push(&address.key_hash, push);
                }
                Some(node) => {
                    if let Err(error) = this.router.send(&node, Hop::Local, &address, message).await
                    {
                        debug!(%error, %node, "endpoint message not forwarded; the endpoint gets it on its next sync");
                    }
                }
                None => {
                    debug!("endpoint has no session; it gets the message on its next sync")
                }
            }
        });
    }
}
