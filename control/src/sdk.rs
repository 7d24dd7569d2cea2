//! SDK archives for download: what an SDK profile bakes in, read from the metadata store and the
//! live cluster view, handed to [`kaa_sdk_generator`], and the generated archives cached.
//!
//! The cache key is a digest of everything the archive holds: the target, the generator version,
//! the SDK token, the pinned schemas, the event classes, the default configuration and the
//! bootstrap list. A change to any of them (a new Bootstrap node, a new `all` configuration, a
//! newer `kaa-node`) gives a new key and a new archive; an unchanged profile is served from memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use kaa_cluster::membership::ClusterView;
use kaa_idl::zk::{TRANSPORT_HTTP, TRANSPORT_TCP, TransportConnectionInfo, transport_id};
use kaa_model::schema::AvroSchema;
use kaa_sdk_generator::{
    Archive, BootstrapServer, EventClass, EventDirection, EventFamily, PinnedSchema, SdkSpec,
    Target, generator_version,
};
use kaa_store::StoreError;
use kaa_store::metadata::{
    Application, DocumentKind, EventAction, EventClassKind, GROUP_ALL, MetadataStore, SdkProfile,
};
use sha2::{Digest, Sha256};

/// How many archives the cache keeps (the oldest goes first).
const CACHED_ARCHIVES: usize = 32;

/// Why no archive.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// No Bootstrap node is live, so the SDK would have nowhere to start.
    #[error("no live Bootstrap node to put into the SDK's bootstrap list")]
    NoBootstrap,
    /// A stored schema or document does not parse (it was checked when written).
    #[error("stored {0} is invalid: {1}")]
    Corrupt(&'static str, String),
    /// The generator refused.
    #[error(transparent)]
    Generator(#[from] kaa_sdk_generator::GeneratorError),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Generated archives, by the digest of what they hold.
#[derive(Default)]
pub struct SdkArchives {
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    archives: HashMap<[u8; 32], Arc<Archive>>,
    order: VecDeque<[u8; 32]>,
}

/// An archive and whether it came from the cache.
pub struct Generated {
    /// The archive.
    pub archive: Arc<Archive>,
    /// Served from the cache (nothing was generated).
    pub cached: bool,
}

impl SdkArchives {
    /// The archive of `profile` for `target`, generated unless an identical one is cached.
    pub async fn archive(
        &self,
        store: &MetadataStore,
        view: &ClusterView,
        app: &Application,
        profile: &SdkProfile,
        target: Target,
    ) -> Result<Generated, SdkError> {
        let spec = spec(store, view, app, profile).await?;
        let key = cache_key(&spec, target);
        if let Some(archive) = self.cache.lock().expect("sdk cache").archives.get(&key) {
            return Ok(Generated {
                archive: archive.clone(),
                cached: true,
            });
        }
        let started = std::time::Instant::now();
        let archive =
            tokio::task::spawn_blocking(move || kaa_sdk_generator::generate(&spec, target))
                .await
                .map_err(|e| kaa_sdk_generator::GeneratorError::Internal(e.to_string()))??;
        tracing::info!(
            sdk_token = %profile.sdk_token, %target, bytes = archive.bytes.len(),
            elapsed_ms = started.elapsed().as_millis() as u64, "SDK archive generated"
        );
        let archive = Arc::new(archive);
        let mut cache = self.cache.lock().expect("sdk cache");
        if cache.archives.insert(key, archive.clone()).is_none() {
            cache.order.push_back(key);
        }
        while cache.order.len() > CACHED_ARCHIVES {
            if let Some(old) = cache.order.pop_front() {
                cache.archives.remove(&old);
            }
        }
        Ok(Generated {
            archive,
            cached: false,
        })
    }
}

/// What `profile` bakes in, from the store and the live cluster.
pub async fn spec(
    store: &MetadataStore,
    view: &ClusterView,
    app: &Application,
    profile: &SdkProfile,
) -> Result<SdkSpec, SdkError> {
    let bootstrap = bootstrap_list(view);
    if bootstrap.is_empty() {
        return Err(SdkError::NoBootstrap);
    }
    let configuration = pinned(
        store,
        &app.id,
        "configuration",
        profile.configuration_version,
    )
    .await?;
    let default_configuration = match &configuration {
        Some(pinned) => default_configuration(store, &app.id, pinned).await?,
        None => None,
    };
    Ok(SdkSpec {
        sdk_token: profile.sdk_token.clone(),
        application_name: app.name.clone(),
        application_token: app.app_token.clone(),
        profile: pinned(
            store,
            &app.id,
            "client_profile",
            profile.client_profile_version,
        )
        .await?,
        configuration,
        notification: pinned(store, &app.id, "notification", profile.notification_version).await?,
        log: pinned(store, &app.id, "log", profile.log_version).await?,
        event_families: event_families(store, app, profile).await?,
        default_configuration,
        default_verifier_token: profile.default_verifier_token.clone(),
        bootstrap,
    })
}

async fn pinned(
    store: &MetadataStore,
    app_id: &str,
    kind: &'static str,
    version: i64,
) -> Result<Option<PinnedSchema>, SdkError> {
    if version < 1 {
        return Ok(None);
    }
    let stored = store.schema(app_id, kind, version).await?;
    let schema =
        AvroSchema::parse(&stored.body).map_err(|e| SdkError::Corrupt("schema", e.to_string()))?;
    Ok(Some(PinnedSchema { version, schema }))
}

/// The active configuration of group `all` for the pinned schema version, else the schema's own
/// defaults when every field has one; Avro binary.
async fn default_configuration(
    store: &MetadataStore,
    app_id: &str,
    pinned: &PinnedSchema,
) -> Result<Option<Vec<u8>>, SdkError> {
    let mut body = None;
    for document in store
        .active_documents(app_id, DocumentKind::Configuration)
        .await?
        .into_iter()
        .filter(|d| d.schema_version == pinned.version)
    {
        let group = store.group(&document.group_id).await?;
        if group.name == GROUP_ALL && group.weight == 0 {
            body = Some(document);
            break;
        }
    }
    let document = match body {
        Some(document) => serde_json::from_str(&document.body)
            .map_err(|e| SdkError::Corrupt("configuration", e.to_string()))?,
        None => serde_json::json!({}),
    };
    Ok(pinned.schema.encode_json(&document).ok())
}

async fn event_families(
    store: &MetadataStore,
    app: &Application,
    profile: &SdkProfile,
) -> Result<Vec<EventFamily>, SdkError> {
    let map_ids: Vec<String> = serde_json::from_str(&profile.event_map_ids).unwrap_or_default();
    let mut families = Vec::new();
    for map_id in map_ids {
        let map = store.event_map(&app.id, &map_id).await?;
        let family = store.event_family(&app.tenant_id, &map.family_id).await?;
        let version = store
            .event_family_version(&map.family_id, map.version)
            .await?;
        let mut classes = Vec::new();
        for class in version
            .classes
            .iter()
            .filter(|c| c.kind == EventClassKind::Event)
        {
            let Some(action) = map.actions.iter().find(|a| a.class_id == class.id) else {
                continue;
            };
            let schema = AvroSchema::parse(&class.body)
                .map_err(|e| SdkError::Corrupt("event class", e.to_string()))?;
            classes.push(EventClass {
                fqn: class.fqn.clone(),
                schema,
                direction: match action.action {
                    EventAction::Source => EventDirection::Source,
                    EventAction::Sink => EventDirection::Sink,
                    EventAction::Both => EventDirection::Both,
                },
            });
        }
        families.push(EventFamily {
            name: family.name,
            class_name: family.class_name,
            version: map.version,
            classes,
        });
    }
    Ok(families)
}

/// Every live Bootstrap node as endpoints reach it: its Kaatcp and HTTP transports' public host
/// and port, and its public key; ordered by node id.
pub fn bootstrap_list(view: &ClusterView) -> Vec<BootstrapServer> {
    let tcp = transport_id(TRANSPORT_TCP);
    let http = transport_id(TRANSPORT_HTTP);
    view.bootstrap
        .values()
        .filter_map(|node| {
            let mut server: Option<BootstrapServer> = None;
            for transport in &node.transports {
                for version in &transport.connection_info {
                    let Ok(info) = TransportConnectionInfo::decode(&version.connection_info) else {
                        continue;
                    };
                    let Ok(port) = u16::try_from(info.port) else {
                        continue;
                    };
                    let entry = server.get_or_insert_with(|| BootstrapServer {
                        host: info.host.clone(),
                        tcp_port: None,
                        http_port: None,
                        public_key: info.public_key.clone(),
                    });
                    if transport.id == tcp {
                        entry.tcp_port = Some(port);
                        entry.host = info.host.clone();
                    } else if transport.id == http {
                        entry.http_port = Some(port);
                    }
                }
            }
            server
        })
        .collect()
}

/// The digest of everything an archive of `spec` for `target` holds.
fn cache_key(spec: &SdkSpec, target: Target) -> [u8; 32] {
    let mut digest = Sha256::new();
    let mut part = |bytes: &[u8]| {
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    };
    part(target.as_str().as_bytes());
    part(generator_version().as_bytes());
    part(spec.sdk_token.as_bytes());
    part(spec.application_name.as_bytes());
    part(spec.application_token.as_bytes());
    for schema in [
        &spec.profile,
        &spec.configuration,
        &spec.notification,
        &spec.log,
    ] {
        match schema {
            Some(pinned) => {
                part(&pinned.version.to_le_bytes());
                part(format!("{:?}", pinned.schema).as_bytes());
            }
            None => part(b"-"),
        }
    }
    for family in &spec.event_families {
        part(family.name.as_bytes());
        part(family.class_name.as_bytes());
        part(&family.version.to_le_bytes());
        for class in &family.classes {
            part(class.fqn.as_bytes());
            part(format!("{:?}", class.schema).as_bytes());
            part(&[class.direction as u8]);
        }
    }
    part(spec.default_configuration.as_deref().unwrap_or(b"-"));
    part(
        spec.default_verifier_token
            .as_deref()
            .unwrap_or("-")
            .as_bytes(),
    );
    for server in &spec.bootstrap {
        part(server.host.as_bytes());
        part(&server.tcp_port.unwrap_or(0).to_le_bytes());
        part(&server.http_port.unwrap_or(0).to_le_bytes());
        part(&server.public_key);
    }
    digest.finalize().into()
}
