//! What an Operations node knows of each application's metadata, read from the SQL metadata
//! store and cached until Control announces a change.
//!
//! A sync names its application by the SDK token of the endpoint's SDK profile. The catalog
//! answers with an [`AppContext`]: the application, its groups by weight with their compiled
//! active profile filters, active configurations and topics, the parsed schemas endpoints use,
//! its user verifiers and its event maps. Contexts are immutable and shared (`Arc`); a change notification for an application drops
//! its context, and the next sync loads a fresh one. Loading twice under a race is harmless.
//!
//! When that load fails because the metadata store does not answer (an outage right after a
//! change), the catalog serves the context and SDK profiles it loaded last, so endpoints go on
//! being served; the application's change-log number goes back to that context's, so the
//! periodic check ([`crate::catch_up`]) reloads it once the store answers again. Reads go
//! through [`MetadataReads`]: each is bounded, and none is sent while the store is known not to
//! answer, so that fallback comes at once rather than after the pool's wait.
//!
//! The catalog also keeps, per application it has loaded, the last change-log number applied
//! (see [`crate::catch_up`]), and remembers for a few seconds the SDK tokens the store does not
//! know ([`UnknownTokens`]), so CONNECTs that repeat a wrong or junk token do not each read the
//! metadata store (`kaa_catalog_unknown_sdk_token_hits_total` counts the ones answered here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kaa_model::filter::ProfileFilter;
use kaa_model::schema::AvroSchema;
use kaa_store::StoreError;
use kaa_store::metadata::{
    Application, DocumentKind, EndpointGroup, EventAction, EventMap, GROUP_ALL, GroupDocument,
    MetadataStore, Page, SchemaVersion, SdkProfile, Topic, TopicKind, UserVerifier,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tracing::warn;

use crate::change_sequences::{Observed, Sequences};
use crate::metadata_reads::MetadataReads;
use crate::once_map::OnceMap;

/// Why an application's metadata could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No SDK profile has this token.
    #[error("unknown SDK token")]
    UnknownSdkToken,
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Store(#[from] StoreError),
    /// Stored metadata cannot be used (a schema or filter that no longer parses).
    #[error("application {app}: {what}")]
    Broken {
        /// Application id.
        app: String,
        /// What is wrong.
        what: String,
    },
}

/// Whether `error` is the metadata store failing to answer (rather than an answer: unknown,
/// broken), when the metadata loaded last may stand in.
fn store_unavailable(error: &CatalogError) -> bool {
    matches!(error, CatalogError::Store(error) if !matches!(error, StoreError::NotFound(_)))
}

/// A notification topic as endpoints see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Metadata id.
    pub id: String,
    /// The `long` id on the wire.
    pub wire_id: i64,
    /// Name.
    pub name: String,
    /// Mandatory or optional.
    pub kind: TopicKind,
}

/// The wire id of a topic: the low 63 bits of its UUIDv7 id, whose last 62 bits are random, so
/// ids of one application never collide in practice and need no lookup table.
pub fn topic_wire_id(id: &str) -> i64 {
    let low = uuid::Uuid::parse_str(id)
        .map(|uuid| uuid.as_u64_pair().1)
        .unwrap_or_else(|_| u64::from(kaa_idl::zk::crc32(id.as_bytes())));
    (low & i64::MAX as u64) as i64
}

/// An active profile filter of a group.
#[derive(Debug, Clone)]
pub struct GroupFilter {
    /// Document id.
    pub id: String,
    /// Client-profile schema version it applies to (0: any).
    pub client_version: i64,
    /// Server-profile schema version it applies to (0: any).
    pub server_version: i64,
    /// The compiled expression.
    pub filter: ProfileFilter,
}

/// An endpoint group with what is active in it.
#[derive(Debug, Clone)]
pub struct GroupContext {
    /// The group.
    pub group: EndpointGroup,
    /// Active filters; the group `all` has none and matches every endpoint.
    pub filters: Vec<GroupFilter>,
    /// Active configurations by configuration-schema version: document id and body.
    pub configurations: HashMap<i64, (String, Value)>,
    /// Topics attached to the group.
    pub topics: Vec<TopicInfo>,
}

impl GroupContext {
    /// Whether this is the group every endpoint belongs to.
    pub fn is_all(&self) -> bool {
        self.group.name == GROUP_ALL && self.group.weight == 0
    }

    /// The filter that decides membership for these profile versions, if any.
    pub fn filter_for(&self, client_version: i64, server_version: i64) -> Option<&GroupFilter> {
        let fits = |wanted: i64, have: i64| wanted == 0 || wanted == have;
        self.filters
            .iter()
            .filter(|f| {
                fits(f.client_version, client_version) && fits(f.server_version, server_version)
            })
            .max_by_key(|f| (f.client_version, f.server_version))
    }
}

/// One application's metadata as Operations uses it.
#[derive(Debug)]
pub struct AppContext {
    /// The application.
    pub app: Application,
    /// Groups by ascending weight.
    pub groups: Vec<GroupContext>,
    /// User verifiers, by verifier token.
    pub verifiers: HashMap<String, UserVerifier>,
    schemas: HashMap<(String, i64), Arc<AvroSchema>>,
    /// Event map id → (event class FQN, what the application's endpoints do with it).
    event_maps: HashMap<String, Vec<(String, EventAction)>>,
}

/// The event classes an SDK profile's endpoints send and receive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventClasses {
    /// FQNs they may send.
    pub sends: std::collections::BTreeSet<String>,
    /// FQNs they receive.
    pub receives: std::collections::BTreeSet<String>,
}

impl AppContext {
    /// The parsed schema of `kind` (`client_profile`, `configuration`, …) and `version`.
    pub fn schema(&self, kind: &str, version: i64) -> Option<&Arc<AvroSchema>> {
        self.schemas.get(&(kind.to_owned(), version))
    }

    /// The event classes of the endpoints of SDK profile `sdk`: those of the event maps it
    /// names (`event_map_ids`, a JSON array of map ids of this application).
    pub fn event_classes(&self, sdk: &SdkProfile) -> EventClasses {
        let map_ids: Vec<String> = serde_json::from_str(&sdk.event_map_ids).unwrap_or_default();
        let mut classes = EventClasses::default();
        for (fqn, action) in map_ids
            .iter()
            .filter_map(|id| self.event_maps.get(id))
            .flatten()
        {
            if matches!(action, EventAction::Source | EventAction::Both) {
                classes.sends.insert(fqn.clone());
            }
            if matches!(action, EventAction::Sink | EventAction::Both) {
                classes.receives.insert(fqn.clone());
            }
        }
        classes
    }
}

#[cfg(test)]
impl AppContext {
    /// A context built in memory, for unit tests of the rules that read one: schemas by kind and
    /// version (Avro JSON), event maps by id.
    pub(crate) fn in_memory(
        app: Application,
        groups: Vec<GroupContext>,
        verifiers: HashMap<String, UserVerifier>,
        schemas: &[(&str, i64, &str)],
        event_maps: HashMap<String, Vec<(String, EventAction)>>,
    ) -> Self {
        let schemas = schemas
            .iter()
            .map(|(kind, version, text)| {
                let schema = AvroSchema::parse(text).expect("a test schema parses");
                (((*kind).to_owned(), *version), Arc::new(schema))
            })
            .collect();
        Self {
            app,
            groups,
            verifiers,
            schemas,
            event_maps,
        }
    }
}

/// How long and how many unknown SDK tokens the catalog remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownTokenSettings {
    /// How long a token the store does not know is refused without asking it again. A token
    /// an SDK profile created meanwhile takes is refused for at most this long.
    pub ttl: Duration,
    /// Tokens remembered at most; when full, the expired ones go, then all of them.
    pub max: usize,
}

impl Default for UnknownTokenSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            max: 10_000,
        }
    }
}

/// SDK tokens the metadata store did not know, each until its entry expires (a short negative
/// cache, bounded in size).
#[derive(Debug)]
pub struct UnknownTokens {
    settings: UnknownTokenSettings,
    /// Token → when it stops being refused here.
    until: Mutex<HashMap<String, Instant>>,
    /// Syncs refused from here, without a store read.
    hits: Counter,
    /// Tokens held.
    held: Gauge,
}

impl UnknownTokens {
    /// An empty cache.
    pub fn new(settings: UnknownTokenSettings) -> Self {
        Self {
            settings,
            until: Mutex::default(),
            hits: Counter::default(),
            held: Gauge::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        // Plain values: a panic elsewhere cannot leave the map half-changed.
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `token` is known to be unknown at `now` (counted as a hit).
    pub fn contains(&self, token: &str, now: Instant) -> bool {
        let mut until = self.lock();
        match until.get(token) {
            Some(expiry) if *expiry > now => {
                self.hits.inc();
                true
            }
            Some(_) => {
                until.remove(token);
                self.held.set(until.len() as i64);
                false
            }
            None => false,
        }
    }

    /// Remembers `token` as unknown from `now` for the TTL.
    pub fn insert(&self, token: &str, now: Instant) {
        if self.settings.max == 0 || self.settings.ttl.is_zero() {
            return;
        }
        let mut until = self.lock();
        if until.len() >= self.settings.max && !until.contains_key(token) {
            until.retain(|_, expiry| *expiry > now);
            if until.len() >= self.settings.max {
                until.clear();
            }
        }
        until.insert(token.to_owned(), now + self.settings.ttl);
        self.held.set(until.len() as i64);
    }

    /// Forgets every token (an SDK profile may have been created).
    pub fn clear(&self) {
        self.lock().clear();
        self.held.set(0);
    }

    /// Registers `kaa_catalog_unknown_sdk_token_hits_total` and `kaa_catalog_unknown_sdk_tokens`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_catalog_unknown_sdk_token_hits",
            "Syncs naming an SDK token the metadata store did not know moments ago, refused without reading the store again",
            self.hits.clone(),
        );
        registry.register(
            "kaa_catalog_unknown_sdk_tokens",
            "SDK tokens remembered as unknown (bounded by metadata_cache.unknown_sdk_token_max)",
            self.held.clone(),
        );
    }
}

/// The catalog of application contexts of one Operations node.
pub struct Catalog {
    metadata: Arc<MetadataReads>,
    /// Loaded once per application however many syncs miss it at once (see [`OnceMap`]).
    apps: OnceMap<String, Arc<AppContext>>,
    sdk_profiles: OnceMap<String, Arc<SdkProfile>>,
    unknown_tokens: UnknownTokens,
    /// The change-log number applied per application loaded here.
    sequences: Mutex<Sequences>,
}

/// Every item of a paged listing.
const ALL: Page = Page {
    offset: 0,
    limit: 10_000,
};

impl Catalog {
    /// An empty catalog reading through `metadata`, remembering unknown SDK tokens as `unknown`
    /// says.
    pub fn new(metadata: Arc<MetadataReads>, unknown: UnknownTokenSettings) -> Self {
        Self {
            metadata,
            apps: OnceMap::default(),
            sdk_profiles: OnceMap::default(),
            unknown_tokens: UnknownTokens::new(unknown),
            sequences: Mutex::default(),
        }
    }

    /// The unknown SDK tokens remembered, for `/metrics`.
    pub fn unknown_tokens(&self) -> &UnknownTokens {
        &self.unknown_tokens
    }

    /// The reads of the metadata store the catalog makes.
    pub fn metadata(&self) -> &MetadataReads {
        &self.metadata
    }

    /// The SDK profile with `sdk_token` and its application's context.
    pub async fn by_sdk_token(
        &self,
        sdk_token: &str,
    ) -> Result<(Arc<SdkProfile>, Arc<AppContext>), CatalogError> {
        if self.unknown_tokens.contains(sdk_token, Instant::now()) {
            return Err(CatalogError::UnknownSdkToken);
        }
        let profile = self
            .sdk_profiles
            .get_or_try_load_or_last(sdk_token, || async {
                // Syncs that waited for a load that found nothing load in turn: they are
                // answered here, without a query each.
                if self.unknown_tokens.contains(sdk_token, Instant::now()) {
                    return Err(CatalogError::UnknownSdkToken);
                }
                match self.metadata.read(|store| store.sdk_profile_by_token(sdk_token)).await {
                    Ok(profile) => Ok(Arc::new(profile)),
                    Err(StoreError::NotFound(_)) => {
                        self.unknown_tokens.insert(sdk_token, Instant::now());
                        Err(CatalogError::UnknownSdkToken)
                    }
                    Err(error) => Err(error.into()),
                }
            }, |error, last| {
                let unavailable = store_unavailable(error);
                if unavailable {
                    warn!(app = %last.app_id, %error, "metadata store failed; serving the SDK profile loaded last");
                }
                unavailable
            })
            .await;
        let profile = match profile {
            Err(CatalogError::UnknownSdkToken) => {
                // The failed load's empty slot would stay for good: the negative cache holds
                // the token instead, for a while.
                self.sdk_profiles.remove(sdk_token);
                return Err(CatalogError::UnknownSdkToken);
            }
            other => other?,
        };
        let app = self.app(&profile.app_id).await?;
        Ok((profile, app))
    }

    /// The context of application `app_id`, loaded if not cached.
    pub async fn app(&self, app_id: &str) -> Result<Arc<AppContext>, CatalogError> {
        self.apps
            .get_or_try_load_or_last(
                app_id,
                || async {
                    let stored = self.metadata.read(|store| StoredApp::read(store, app_id)).await?;
                    let context = stored.into_context()?;
                    self.sequences().loaded(app_id, context.app.seq);
                    Ok(Arc::new(context))
                },
                |error, last| {
                    let unavailable = store_unavailable(error);
                    if unavailable {
                        warn!(
                            app = app_id,
                            %error,
                            seq = last.app.seq,
                            "metadata store failed; serving the application's metadata loaded last until it answers"
                        );
                        self.sequences().fell_back(app_id, last.app.seq);
                    }
                    unavailable
                },
            )
            .await
    }

    /// Forgets what is cached of `app_id`; the next use reloads it. Unknown SDK tokens are
    /// forgotten too: the change may have created an SDK profile.
    pub fn invalidate(&self, app_id: &str) {
        self.apps.remove(app_id);
        self.sdk_profiles
            .retain_loaded(|profile| profile.app_id != app_id);
        self.unknown_tokens.clear();
    }

    fn sequences(&self) -> MutexGuard<'_, Sequences> {
        // Plain numbers: a panic elsewhere cannot leave them half-changed.
        self.sequences.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A notification of change `seq` of `app_id` arrived (see [`Sequences::observe`]).
    pub fn observe_change(&self, app_id: &str, seq: i64) -> Observed {
        self.sequences().observe(app_id, seq)
    }

    /// The applications loaded here and the change-log number applied to each.
    pub fn tracked_changes(&self) -> Vec<(String, i64)> {
        self.sequences().tracked()
    }

    /// Whether `app_id` must catch up to the store's `latest` change (see [`Sequences::check`]).
    pub fn check_changes(&self, app_id: &str, latest: i64) -> bool {
        self.sequences().check(app_id, latest)
    }

    /// Stops tracking the changes of `app_id` (deleted), and forgets its metadata loaded last.
    pub fn forget_changes(&self, app_id: &str) {
        self.sequences().forget(app_id);
        self.apps.forget(app_id);
    }
}

/// What the metadata store holds of one application, as its context needs it.
struct StoredApp {
    app: Application,
    filters: Vec<GroupDocument>,
    configurations: Vec<GroupDocument>,
    groups: Vec<(EndpointGroup, Vec<Topic>)>,
    schemas: Vec<(&'static str, Vec<SchemaVersion>)>,
    verifiers: Vec<UserVerifier>,
    event_maps: Vec<EventMap>,
}

/// The schema kinds an application context parses.
const SCHEMA_KINDS: [&str; 5] = [
    "client_profile",
    "server_profile",
    "configuration",
    "notification",
    "log",
];

impl StoredApp {
    /// Reads application `app_id`'s metadata from `store`.
    async fn read(store: &MetadataStore, app_id: &str) -> Result<Self, StoreError> {
        let app = store.application(app_id).await?;
        let filters = store
            .active_documents(app_id, DocumentKind::ProfileFilter)
            .await?;
        let configurations = store
            .active_documents(app_id, DocumentKind::Configuration)
            .await?;
        let mut groups = Vec::new();
        for group in store.groups(app_id, ALL).await?.items {
            let topics = store.group_topics(&group.id).await?;
            groups.push((group, topics));
        }
        let mut schemas = Vec::new();
        for kind in SCHEMA_KINDS {
            schemas.push((kind, store.schemas(app_id, kind, ALL).await?.items));
        }
        Ok(Self {
            app,
            filters,
            configurations,
            groups,
            schemas,
            verifiers: store.verifiers(app_id, ALL).await?.items,
            event_maps: store.event_maps(app_id, ALL).await?.items,
        })
    }

    /// The context: filters compiled, configurations and schemas parsed; a stored item that no
    /// longer parses makes the application [`CatalogError::Broken`].
    fn into_context(self) -> Result<AppContext, CatalogError> {
        let broken = |what: String| CatalogError::Broken {
            app: self.app.id.clone(),
            what,
        };
        let mut groups = Vec::new();
        for (group, topics) in self.groups {
            let mut context = GroupContext {
                filters: Vec::new(),
                configurations: HashMap::new(),
                topics: Vec::new(),
                group,
            };
            for document in self
                .filters
                .iter()
                .filter(|d| d.group_id == context.group.id)
            {
                let filter = ProfileFilter::compile(&document.body)
                    .map_err(|e| broken(format!("filter {}: {e}", document.id)))?;
                context.filters.push(GroupFilter {
                    id: document.id.clone(),
                    client_version: document.schema_version,
                    server_version: document.server_schema_version,
                    filter,
                });
            }
            for document in self
                .configurations
                .iter()
                .filter(|d| d.group_id == context.group.id)
            {
                let body: Value = serde_json::from_str(&document.body)
                    .map_err(|e| broken(format!("configuration {}: {e}", document.id)))?;
                context
                    .configurations
                    .insert(document.schema_version, (document.id.clone(), body));
            }
            for topic in topics {
                context.topics.push(TopicInfo {
                    wire_id: topic_wire_id(&topic.id),
                    id: topic.id,
                    name: topic.name,
                    kind: topic.kind,
                });
            }
            groups.push(context);
        }
        groups.sort_by_key(|g| g.group.weight);
        let mut schemas = HashMap::new();
        for (kind, versions) in self.schemas {
            for version in versions {
                let schema = AvroSchema::parse(&version.body)
                    .map_err(|e| broken(format!("{kind} schema v{}: {e}", version.version)))?;
                schemas.insert((kind.to_owned(), version.version), Arc::new(schema));
            }
        }
        let verifiers = self
            .verifiers
            .into_iter()
            .map(|v| (v.verifier_token.clone(), v))
            .collect();
        let event_maps = self
            .event_maps
            .into_iter()
            .map(|map| {
                let actions = map.actions.into_iter().map(|a| (a.fqn, a.action)).collect();
                (map.id, actions)
            })
            .collect();
        Ok(AppContext {
            app: self.app,
            groups,
            verifiers,
            schemas,
            event_maps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_token_is_refused_until_it_expires() {
        let tokens = UnknownTokens::new(UnknownTokenSettings {
            ttl: Duration::from_secs(5),
            max: 10,
        });
        let t0 = Instant::now();
        assert!(!tokens.contains("junk", t0));
        tokens.insert("junk", t0);
        assert!(tokens.contains("junk", t0 + Duration::from_secs(4)));
        assert!(!tokens.contains("junk", t0 + Duration::from_secs(5)));
        assert_eq!(tokens.hits.get(), 1);
        assert_eq!(tokens.held.get(), 0, "the expired token went");
    }

    #[test]
    fn unknown_tokens_stay_within_their_bound() {
        let tokens = UnknownTokens::new(UnknownTokenSettings {
            ttl: Duration::from_secs(5),
            max: 3,
        });
        let t0 = Instant::now();
        for (i, token) in ["a", "b", "c"].into_iter().enumerate() {
            tokens.insert(token, t0 + Duration::from_secs(i as u64));
        }
        // At 5.5 s "a" has expired: it makes room for "d".
        let later = t0 + Duration::from_millis(5_500);
        tokens.insert("d", later);
        assert_eq!(tokens.held.get(), 3);
        assert!(tokens.contains("b", later) && tokens.contains("d", later));
        // Nothing expired: the cache starts again from nothing rather than grow.
        tokens.insert("e", later);
        assert_eq!(tokens.held.get(), 1);
        assert!(tokens.contains("e", later) && !tokens.contains("d", later));
        tokens.clear();
        assert!(!tokens.contains("e", later));
    }

    #[test]
    fn topic_wire_ids_are_positive_and_stable() {
        let id = "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b";
        let wire = topic_wire_id(id);
        assert!(wire > 0);
        assert_eq!(wire, topic_wire_id(id));
        assert_eq!(wire, 0x0a6b_7c8d_9e0f_1a2b);
    }
}
