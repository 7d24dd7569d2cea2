//! Internode Thrift as a node's Thrift port reads it: a stream of frames (4-byte big-endian
//! length, then a binary-protocol message), each run through the three generated processors
//! multiplexed as a node mounts them, with handlers that do nothing. Never panics, never
//! allocates what a length merely claims; every response is one well-formed frame holding a
//! strict Thrift message.
#![no_main]

use std::sync::LazyLock;

use kaa_cluster::rpc::frame::{self, DEFAULT_MAX_FRAME_LEN, HEADER_LEN};
use kaa_idl::thrift::bootstrap::{
    BootstrapServiceSyncHandler, BootstrapServiceSyncProcessor, serversList,
};
use kaa_idl::thrift::kaa_node::{
    CommandResult, CommandStatus, KaaNodeServiceSyncHandler, KaaNodeServiceSyncProcessor,
    MemoryUsage,
};
use kaa_idl::thrift::operations::{
    Message, Notification, OperationsServiceSyncHandler, OperationsServiceSyncProcessor,
    RedirectionRule, ThriftEndpointDeregistrationMessage, ThriftEntityRouteMessage,
    ThriftOwnerChangeMessage, ThriftServerProfileUpdateMessage, ThriftUnicastNotificationMessage,
    UserConfigurationUpdate,
};
use kaa_idl::thrift::service_names;
use libfuzzer_sys::fuzz_target;
use thrift::protocol::{TBinaryInputProtocol, TInputProtocol};
use thrift::server::TMultiplexedProcessor;

/// Answers every call with an empty success.
struct Nothing;

impl KaaNodeServiceSyncHandler for Nothing {
    fn handle_server_name(&self) -> thrift::Result<String> {
        Ok(String::new())
    }
    fn handle_shutdown(&self) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_get_memory_usage(&self, _force_gc: bool) -> thrift::Result<MemoryUsage> {
        Ok(MemoryUsage::new(0, 0, 0))
    }
    fn handle_execute_command(&self, _command_line: String) -> thrift::Result<CommandResult> {
        Ok(CommandResult::new(CommandStatus::OK, String::new()))
    }
}

impl OperationsServiceSyncHandler for Nothing {
    fn handle_on_notification(&self, _: Notification) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_set_redirection_rule(&self, _: RedirectionRule) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_send_messages(&self, _: Vec<Message>) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_send_user_configuration_updates(
        &self,
        _: Vec<UserConfigurationUpdate>,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_entity_route_messages(
        &self,
        _: Vec<ThriftEntityRouteMessage>,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_unicast_notification(
        &self,
        _: ThriftUnicastNotificationMessage,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_server_profile_update(
        &self,
        _: ThriftServerProfileUpdateMessage,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_endpoint_deregistration(
        &self,
        _: ThriftEndpointDeregistrationMessage,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_owner_change(&self, _: ThriftOwnerChangeMessage) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_find_event_listeners(
        &self,
        _: String,
        _: Vec<String>,
        _: Vec<u8>,
    ) -> thrift::Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

impl BootstrapServiceSyncHandler for Nothing {
    fn handle_on_operations_server_list_update(&self, _: serversList) -> thrift::Result<()> {
        Ok(())
    }
}

static PROCESSOR: LazyLock<TMultiplexedProcessor> = LazyLock::new(|| {
    let mut processor = TMultiplexedProcessor::new();
    let services: [(&str, Box<dyn thrift::server::TProcessor + Send + Sync>); 3] = [
        (
            service_names::KAA_NODE,
            Box::new(KaaNodeServiceSyncProcessor::new(Nothing)),
        ),
        (
            service_names::OPERATIONS,
            Box::new(OperationsServiceSyncProcessor::new(Nothing)),
        ),
        (
            service_names::BOOTSTRAP,
            Box::new(BootstrapServiceSyncProcessor::new(Nothing)),
        ),
    ];
    for (name, service) in services {
        processor
            .register(name, service, false)
            .expect("registered once");
    }
    processor
});

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    while let Some((header, rest)) = stream.split_first_chunk::<HEADER_LEN>() {
        let Ok(len) = frame::payload_len(*header, DEFAULT_MAX_FRAME_LEN) else {
            return;
        };
        let Some((request, rest)) = rest.split_at_checked(len) else {
            return;
        };
        stream = rest;
        let Ok(response) = frame::process(&*PROCESSOR, request) else {
            return;
        };
        if response.is_empty() {
            continue;
        }
        let (header, payload) = response
            .split_first_chunk::<HEADER_LEN>()
            .expect("a header");
        assert_eq!(frame::payload_len(*header, usize::MAX), Ok(payload.len()));
        let mut input = TBinaryInputProtocol::new(payload, true);
        input.read_message_begin().expect("a strict message");
    }
});
