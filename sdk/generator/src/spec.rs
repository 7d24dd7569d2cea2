//! What an SDK is generated from: the SDK profile's token, the schemas it pins (parsed), the event
//! classes of its event maps, the default configuration and the bootstrap list of the live
//! cluster. Control assembles an [`SdkSpec`]; the targets only read it.

use kaa_model::schema::AvroSchema;

/// Everything one generated SDK bakes in.
#[derive(Debug, Clone)]
pub struct SdkSpec {
    /// The SDK profile's token, sent by the endpoint in every sync.
    pub sdk_token: String,
    /// The application's name, for READMEs and comments.
    pub application_name: String,
    /// The application's token.
    pub application_token: String,
    /// The pinned client-profile schema.
    pub profile: Option<PinnedSchema>,
    /// The pinned configuration schema.
    pub configuration: Option<PinnedSchema>,
    /// The pinned notification schema.
    pub notification: Option<PinnedSchema>,
    /// The pinned log schema.
    pub log: Option<PinnedSchema>,
    /// The event class families of the profile's event maps.
    pub event_families: Vec<EventFamily>,
    /// The configuration an endpoint starts with before the server sent one: Avro binary of
    /// the configuration schema.
    pub default_configuration: Option<Vec<u8>>,
    /// The token of the user verifier owner attaches use by default.
    pub default_verifier_token: Option<String>,
    /// The Bootstrap servers endpoints ask first, in order.
    pub bootstrap: Vec<BootstrapServer>,
}

/// A schema version pinned by the SDK profile.
#[derive(Debug, Clone)]
pub struct PinnedSchema {
    /// Its version in the application.
    pub version: i64,
    /// The schema, parsed.
    pub schema: AvroSchema,
}

/// One event class family version as an event map uses it.
#[derive(Debug, Clone)]
pub struct EventFamily {
    /// The family's name.
    pub name: String,
    /// The family's Java-style class name (Kaa names the generated family class after it).
    pub class_name: String,
    /// The family version.
    pub version: i64,
    /// The classes the application sends or receives.
    pub classes: Vec<EventClass>,
}

/// One event class.
#[derive(Debug, Clone)]
pub struct EventClass {
    /// Its fully qualified name, the event's name on the wire.
    pub fqn: String,
    /// Its record schema.
    pub schema: AvroSchema,
    /// Whether the application sends it, receives it, or both.
    pub direction: EventDirection,
}

/// Which way an application uses an event class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventDirection {
    /// The application sends it.
    Source,
    /// The application receives it.
    Sink,
    /// Both.
    Both,
}

impl EventDirection {
    /// Whether the application sends events of this class.
    pub fn sends(self) -> bool {
        matches!(self, EventDirection::Source | EventDirection::Both)
    }

    /// Whether the application receives events of this class.
    pub fn receives(self) -> bool {
        matches!(self, EventDirection::Sink | EventDirection::Both)
    }
}

/// A Bootstrap server as endpoints reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapServer {
    /// Host name or address endpoints connect to.
    pub host: String,
    /// Its Kaatcp port, if it serves Kaatcp.
    pub tcp_port: Option<u16>,
    /// Its HTTP port, if it serves HTTP.
    pub http_port: Option<u16>,
    /// Its RSA public key, X.509 `SubjectPublicKeyInfo` DER.
    pub public_key: Vec<u8>,
}
