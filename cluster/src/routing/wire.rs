//! The Thrift form of endpoint messages, both ways: [`encode`] for the sender, [`decode`] for
//! the `OperationsService` handler that receives one. Pure, so the pair is tested as a round
//! trip.
//!
//! Each [`EndpointMessage`] kind travels as its own Thrift struct (`onUnicastNotification`,
//! `onServerProfileUpdate`, `onEndpointDeregistration`, `onOwnerChange`), all carrying the
//! endpoint's entity address and the hop as Kaa's actor classifier (`GLOBAL` to the ring owner,
//! `LOCAL` to the node serving the session).

use kaa_idl::thrift::operations::{
    ThriftActorClassifier, ThriftClusterEntityType, ThriftEndpointDeregistrationMessage,
    ThriftEntityAddress, ThriftOwnerChangeMessage, ThriftServerProfileUpdateMessage,
    ThriftUnicastNotificationMessage,
};

use super::{EndpointAddress, EndpointMessage, Hop};

/// An endpoint message as `OperationsService` carries it: one Thrift struct per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// `onUnicastNotification`.
    Unicast(ThriftUnicastNotificationMessage),
    /// `onServerProfileUpdate`.
    ServerProfile(ThriftServerProfileUpdateMessage),
    /// `onEndpointDeregistration`.
    Deregistration(ThriftEndpointDeregistrationMessage),
    /// `onOwnerChange`.
    OwnerChange(ThriftOwnerChangeMessage),
}

/// A received endpoint message: the hop it is on, whom it is for and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressedMessage {
    /// Global (this node owns the endpoint on the ring) or local (its session is here).
    pub hop: Hop,
    /// The endpoint.
    pub address: EndpointAddress,
    /// What it is told.
    pub message: EndpointMessage,
}

/// Why a received endpoint message cannot be delivered; each variant keeps the message for the
/// log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message has no entity address.
    #[error("endpoint message without an endpoint address")]
    NoAddress(EndpointMessage),
    /// The entity address names no endpoint.
    #[error("endpoint message without an endpoint id")]
    NoEndpointId(EndpointMessage),
}

impl DecodeError {
    /// The message that could not be delivered.
    pub fn message(&self) -> &EndpointMessage {
        match self {
            DecodeError::NoAddress(message) | DecodeError::NoEndpointId(message) => message,
        }
    }
}

/// The Thrift form of `message` for `address` on `hop`.
pub fn encode(hop: Hop, address: &EndpointAddress, message: EndpointMessage) -> WireMessage {
    let address = Some(ThriftEntityAddress {
        tenant_id: Some(address.tenant_id.clone()),
        application_token: Some(address.app_token.clone()),
        entity_type: Some(ThriftClusterEntityType::ENDPOINT),
        entity_id: Some(address.key_hash.clone()),
    });
    let actor_classifier = Some(match hop {
        Hop::Global => ThriftActorClassifier::GLOBAL,
        Hop::Local => ThriftActorClassifier::LOCAL,
    });
    match message {
        EndpointMessage::Unicast(id) => WireMessage::Unicast(ThriftUnicastNotificationMessage {
            address,
            actor_classifier,
            notification_id: Some(id),
        }),
        EndpointMessage::ServerProfile => {
            WireMessage::ServerProfile(ThriftServerProfileUpdateMessage {
                address,
                actor_classifier,
            })
        }
        EndpointMessage::Deregistration => {
            WireMessage::Deregistration(ThriftEndpointDeregistrationMessage {
                address,
                actor_classifier,
            })
        }
        EndpointMessage::OwnerChanged { by_access_token } => {
            WireMessage::OwnerChange(ThriftOwnerChangeMessage {
                address,
                actor_classifier,
                by_endpoint_access_token: Some(by_access_token),
            })
        }
    }
}

/// A received message for one endpoint. Missing ids and tokens read as empty, and any
/// classifier but `LOCAL` as the global hop, as Kaa's senders mean them; only a message naming
/// no endpoint is refused.
pub fn decode(wire: WireMessage) -> Result<AddressedMessage, DecodeError> {
    let (address, classifier, message) = match wire {
        WireMessage::Unicast(m) => (
            m.address,
            m.actor_classifier,
            EndpointMessage::Unicast(m.notification_id.unwrap_or_default()),
        ),
        WireMessage::ServerProfile(m) => (
            m.address,
            m.actor_classifier,
            EndpointMessage::ServerProfile,
        ),
        WireMessage::Deregistration(m) => (
            m.address,
            m.actor_classifier,
            EndpointMessage::Deregistration,
        ),
        WireMessage::OwnerChange(m) => (
            m.address,
            m.actor_classifier,
            EndpointMessage::OwnerChanged {
                by_access_token: m.by_endpoint_access_token.unwrap_or_default(),
            },
        ),
    };
    let Some(address) = address else {
        return Err(DecodeError::NoAddress(message));
    };
    let Some(key_hash) = address.entity_id else {
        return Err(DecodeError::NoEndpointId(message));
    };
    let hop = match classifier {
        Some(ThriftActorClassifier::LOCAL) => Hop::Local,
        _ => Hop::Global,
    };
    Ok(AddressedMessage {
        hop,
        address: EndpointAddress {
            tenant_id: address.tenant_id.unwrap_or_default(),
            app_token: address.application_token.unwrap_or_default(),
            key_hash,
        },
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> EndpointAddress {
        EndpointAddress {
            tenant_id: "tenant-1".into(),
            app_token: "app-token".into(),
            key_hash: vec![1, 2, 3],
        }
    }

    #[test]
    fn every_message_decodes_to_what_was_encoded_on_both_hops() {
        let messages = [
            EndpointMessage::Unicast("notification-7".into()),
            EndpointMessage::ServerProfile,
            EndpointMessage::Deregistration,
            EndpointMessage::OwnerChanged {
                by_access_token: "token-9".into(),
            },
        ];
        for hop in [Hop::Global, Hop::Local] {
            for message in messages.clone() {
                let wire = encode(hop, &address(), message.clone());
                let expected = AddressedMessage {
                    hop,
                    address: address(),
                    message,
                };
                assert_eq!(decode(wire), Ok(expected));
            }
        }
    }

    #[test]
    fn a_message_without_an_endpoint_is_refused_and_missing_fields_read_as_defaults() {
        let bare = ThriftUnicastNotificationMessage {
            address: None,
            actor_classifier: None,
            notification_id: Some("n".into()),
        };
        assert_eq!(
            decode(WireMessage::Unicast(bare.clone())),
            Err(DecodeError::NoAddress(EndpointMessage::Unicast("n".into())))
        );
        let no_id = ThriftServerProfileUpdateMessage {
            address: Some(ThriftEntityAddress::new(
                "tenant".to_owned(),
                "app".to_owned(),
                ThriftClusterEntityType::ENDPOINT,
                None,
            )),
            actor_classifier: Some(ThriftActorClassifier::LOCAL),
        };
        let error = decode(WireMessage::ServerProfile(no_id)).unwrap_err();
        assert_eq!(error.message(), &EndpointMessage::ServerProfile);
        assert_eq!(error.to_string(), "endpoint message without an endpoint id");

        let only_id = ThriftOwnerChangeMessage {
            address: Some(ThriftEntityAddress::new(None, None, None, vec![9])),
            actor_classifier: None,
            by_endpoint_access_token: None,
        };
        assert_eq!(
            decode(WireMessage::OwnerChange(only_id)),
            Ok(AddressedMessage {
                hop: Hop::Global,
                address: EndpointAddress {
                    tenant_id: String::new(),
                    app_token: String::new(),
                    key_hash: vec![9],
                },
                message: EndpointMessage::OwnerChanged {
                    by_access_token: String::new(),
                },
            })
        );
    }
}
