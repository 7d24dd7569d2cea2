//! Event class families of a tenant and the event maps of its applications.
//!
//! A family is versioned; each version is a list of event classes (Avro record schemas, checked
//! by the API) named by their full names. An FQN belongs to one family of a tenant, so an
//! endpoint's event names its family unambiguously. An application maps one version of a family
//! and, per event class, whether its endpoints send it, receive it or both; Operations routes
//! events between the endpoints of one owner by these maps. Map changes are logged under the
//! entity `event_map`.

use std::collections::HashSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::record::{Column, Insert, Record, Statement, execute_changing, stored};
use super::{MetadataStore, Page, Paged, new_id, now_ms};
use crate::StoreError;

/// The longest event class FQN stored.
pub const MAX_FQN_LEN: usize = 255;

/// What an event class is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClassKind {
    /// Sent between endpoints.
    Event,
    /// A type that events carry; never sent on its own.
    Object,
}

impl EventClassKind {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            EventClassKind::Event => "event",
            EventClassKind::Object => "object",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "event" => Some(EventClassKind::Event),
            "object" => Some(EventClassKind::Object),
            _ => None,
        }
    }
}

/// What an application's endpoints do with an event class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// They send it.
    Source,
    /// They receive it.
    Sink,
    /// They send and receive it.
    Both,
}

impl EventAction {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            EventAction::Source => "source",
            EventAction::Sink => "sink",
            EventAction::Both => "both",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "source" => Some(EventAction::Source),
            "sink" => Some(EventAction::Sink),
            "both" => Some(EventAction::Both),
            _ => None,
        }
    }
}

/// An event class family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFamily {
    /// Id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// Namespace of the generated family class.
    pub namespace: String,
    /// Name of the generated family class, unique in the tenant.
    pub class_name: String,
    /// Creation time.
    pub created_ms: i64,
}

/// One event class of a family version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventClass {
    /// Id.
    pub id: String,
    /// Family version.
    pub family_version_id: String,
    /// Full name of the record schema, unique in the version.
    pub fqn: String,
    /// Event or object.
    pub kind: EventClassKind,
    /// The Avro record schema text.
    pub body: String,
}

/// An event class to store with a new family version; the caller has checked the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEventClass {
    /// Full name of the record schema.
    pub fqn: String,
    /// Event or object.
    pub kind: EventClassKind,
    /// The Avro record schema text.
    pub body: String,
}

/// One version of an event class family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFamilyVersion {
    /// Id.
    pub id: String,
    /// Family.
    pub family_id: String,
    /// 1, 2, … per family.
    pub version: i64,
    /// The JSON array of the classes' record schemas, as uploaded.
    pub body: String,
    /// Its event classes, by FQN.
    pub classes: Vec<EventClass>,
    /// Creation time.
    pub created_ms: i64,
}

/// What an application does with one event class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMapAction {
    /// Event class.
    pub class_id: String,
    /// Its FQN.
    pub fqn: String,
    /// Source, sink or both.
    pub action: EventAction,
}

/// An application's map of one event class family version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMap {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Family.
    pub family_id: String,
    /// The family's name.
    pub family_name: String,
    /// Family version id.
    pub family_version_id: String,
    /// Family version number.
    pub version: i64,
    /// Per event class, by FQN.
    pub actions: Vec<EventMapAction>,
    /// Creation time.
    pub created_ms: i64,
}

stored! {
    EventFamily in "event_families",
    not found: "event family",
    conflict: "event family name or class name",
    columns: [id, tenant_id, name, namespace, class_name, created_ms],
}

stored! {
    EventFamilyVersion in "event_family_versions",
    not found: "event family version",
    conflict: "event family version (a concurrent upload won; retry)",
    columns: [id, family_id, version, body, created_ms],
    default: [classes],
}

stored! {
    EventClass in "event_classes",
    not found: "event class",
    conflict: "event class FQN",
    columns: [id, family_version_id, fqn, kind, body],
}

/// Read with its family's name and version number, without its actions.
impl Record for EventMap {
    const WHAT: &'static str = "event map";
    const SELECT: &'static str = "SELECT m.id, m.app_id, m.family_id, f.name, m.family_version_id, v.version, m.created_ms \
         FROM application_event_maps m JOIN event_families f ON f.id = m.family_id \
         JOIN event_family_versions v ON v.id = m.family_version_id";
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(EventMap {
            id: row.try_get(0)?,
            app_id: row.try_get(1)?,
            family_id: row.try_get(2)?,
            family_name: row.try_get(3)?,
            family_version_id: row.try_get(4)?,
            version: row.try_get(5)?,
            actions: Vec::new(),
            created_ms: row.try_get(6)?,
        })
    }
}

/// Inserts the map without its actions.
impl Insert for EventMap {
    const INSERT: &'static str = "INSERT INTO application_event_maps (id, app_id, family_id, family_version_id, created_ms) \
         VALUES (?, ?, ?, ?, ?)";
    const CONFLICT: &'static str = "the application already maps a version of this event family";
    fn bind(&self, insert: Statement) -> Statement {
        insert
            .bind(&self.id)
            .bind(&self.app_id)
            .bind(&self.family_id)
            .bind(&self.family_version_id)
            .bind(self.created_ms)
    }
}

/// One action of an event map, as stored.
struct MapAction {
    map_id: String,
    action: EventMapAction,
}

impl Record for MapAction {
    const WHAT: &'static str = "event map action";
    const SELECT: &'static str = "SELECT a.map_id, a.class_id, c.fqn, a.action FROM application_event_actions a \
         JOIN event_classes c ON c.id = a.class_id";
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(MapAction {
            map_id: row.try_get(0)?,
            action: EventMapAction {
                class_id: row.try_get(1)?,
                fqn: row.try_get(2)?,
                action: Column::read(row, 3)?,
            },
        })
    }
}

impl Insert for MapAction {
    const INSERT: &'static str =
        "INSERT INTO application_event_actions (map_id, class_id, action) VALUES (?, ?, ?)";
    const CONFLICT: &'static str = "event class action";
    fn bind(&self, insert: Statement) -> Statement {
        insert
            .bind(&self.map_id)
            .bind(&self.action.class_id)
            .bind(self.action.action.name())
    }
}

impl MetadataStore {
    // ---- families (tenant level, not in any application's change log) ----

    /// Creates an event class family; its name and class name must be unique in the tenant.
    pub async fn create_event_family(
        &self,
        tenant_id: &str,
        name: &str,
        namespace: &str,
        class_name: &str,
    ) -> Result<EventFamily, StoreError> {
        let family = EventFamily {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            class_name: class_name.to_owned(),
            created_ms: now_ms(),
        };
        self.insert(self.db.pool(), &family).await?;
        Ok(family)
    }

    /// One family of the tenant (other tenants' families are not found).
    pub async fn event_family(&self, tenant_id: &str, id: &str) -> Result<EventFamily, StoreError> {
        self.select("WHERE id = ? AND tenant_id = ?")
            .bind(id)
            .bind(tenant_id)
            .one()
            .await
    }

    /// The tenant's families, by name.
    pub async fn event_families(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<Paged<EventFamily>, StoreError> {
        self.select("WHERE tenant_id = ? ORDER BY name")
            .bind(tenant_id)
            .page(page)
            .await
    }

    /// Adds the next version of a family with its classes. The caller has checked each schema
    /// and that `fqn` is its full name; here FQNs must be unique in the version and unused by
    /// the tenant's other families.
    pub async fn add_event_family_version(
        &self,
        family_id: &str,
        body: &str,
        classes: &[NewEventClass],
    ) -> Result<EventFamilyVersion, StoreError> {
        if classes.is_empty() {
            return Err(StoreError::Invalid(
                "a family version needs at least one event class",
            ));
        }
        let mut fqns = HashSet::new();
        for class in classes {
            if class.fqn.is_empty() || class.fqn.len() > MAX_FQN_LEN {
                return Err(StoreError::Invalid(
                    "an event class FQN has 1 to 255 characters",
                ));
            }
            if !fqns.insert(class.fqn.as_str()) {
                return Err(StoreError::Invalid(
                    "event class FQNs repeat in the version",
                ));
            }
        }
        let row = self
            .statement("SELECT tenant_id FROM event_families WHERE id = ?")
            .bind(family_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(StoreError::NotFound(EventFamily::WHAT))?;
        let tenant_id: String = row.try_get(0)?;
        let mut tx = self.db.pool().begin().await?;
        // Takes the tenant's row lock, so two uploads cannot both pass the FQN check below.
        self.statement("UPDATE tenants SET name = name WHERE id = ?")
            .bind(&tenant_id)
            .execute(&mut *tx)
            .await?;
        for class in classes {
            let taken = self
                .statement(
                    "SELECT c.id FROM event_classes c JOIN event_family_versions v ON v.id = c.family_version_id \
                     JOIN event_families f ON f.id = v.family_id WHERE c.fqn = ? AND f.tenant_id = ? AND f.id <> ?",
                )
                .bind(&class.fqn)
                .bind(&tenant_id)
                .bind(family_id)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(
                    "event class FQN of another event family of the tenant",
                ));
            }
        }
        let latest: Option<i64> = self
            .statement("SELECT MAX(version) FROM event_family_versions WHERE family_id = ?")
            .bind(family_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let mut version = EventFamilyVersion {
            id: new_id(),
            family_id: family_id.to_owned(),
            version: latest.unwrap_or(0) + 1,
            body: body.to_owned(),
            classes: Vec::with_capacity(classes.len()),
            created_ms: now_ms(),
        };
        self.insert(&mut *tx, &version).await?;
        for class in classes {
            let class = EventClass {
                id: new_id(),
                family_version_id: version.id.clone(),
                fqn: class.fqn.clone(),
                kind: class.kind,
                body: class.body.clone(),
            };
            self.insert(&mut *tx, &class).await?;
            version.classes.push(class);
        }
        tx.commit().await?;
        version.classes.sort_by(|a, b| a.fqn.cmp(&b.fqn));
        Ok(version)
    }

    /// A family's versions with their classes, newest first.
    pub async fn event_family_versions(
        &self,
        family_id: &str,
        page: Page,
    ) -> Result<Paged<EventFamilyVersion>, StoreError> {
        let mut versions = self
            .select::<EventFamilyVersion>("WHERE family_id = ? ORDER BY version DESC")
            .bind(family_id)
            .page(page)
            .await?;
        let (Some(newest), Some(oldest)) = (versions.items.first(), versions.items.last()) else {
            return Ok(versions);
        };
        let classes: Vec<EventClass> = self
            .select(
                "JOIN event_family_versions v ON v.id = event_classes.family_version_id \
                 WHERE v.family_id = ? AND v.version >= ? AND v.version <= ? ORDER BY event_classes.fqn",
            )
            .bind(family_id)
            .bind(oldest.version)
            .bind(newest.version)
            .all()
            .await?;
        for class in classes {
            if let Some(version) = versions
                .items
                .iter_mut()
                .find(|v| v.id == class.family_version_id)
            {
                version.classes.push(class);
            }
        }
        Ok(versions)
    }

    /// One version of a family, with its classes.
    pub async fn event_family_version(
        &self,
        family_id: &str,
        version: i64,
    ) -> Result<EventFamilyVersion, StoreError> {
        let mut version: EventFamilyVersion = self
            .select("WHERE family_id = ? AND version = ?")
            .bind(family_id)
            .bind(version)
            .one()
            .await?;
        version.classes = self
            .select("WHERE family_version_id = ? ORDER BY fqn")
            .bind(&version.id)
            .all()
            .await?;
        Ok(version)
    }

    // ---- application event maps (logged as `event_map`) ----

    /// Maps `version` of a family of the application's tenant into the application, with an
    /// action per event class FQN (only classes of kind `event` take one; classes left out are
    /// neither sent nor received); logged. Returns the map and the change's sequence number.
    pub async fn create_event_map(
        &self,
        app_id: &str,
        family_id: &str,
        version: i64,
        actions: &[(String, EventAction)],
    ) -> Result<(EventMap, i64), StoreError> {
        let app = self.application(app_id).await?;
        let family = self.event_family(&app.tenant_id, family_id).await?;
        let family_version = self.event_family_version(&family.id, version).await?;
        let mut mapped = Vec::with_capacity(actions.len());
        for (fqn, action) in actions {
            let class = family_version
                .classes
                .iter()
                .find(|c| &c.fqn == fqn)
                .ok_or(StoreError::Invalid(
                    "an action names an event class the family version does not have",
                ))?;
            if class.kind != EventClassKind::Event {
                return Err(StoreError::Invalid(
                    "only event classes of kind event take an action",
                ));
            }
            if mapped
                .iter()
                .any(|m: &EventMapAction| m.class_id == class.id)
            {
                return Err(StoreError::Invalid(
                    "an event class has more than one action",
                ));
            }
            mapped.push(EventMapAction {
                class_id: class.id.clone(),
                fqn: class.fqn.clone(),
                action: *action,
            });
        }
        mapped.sort_by(|a, b| a.fqn.cmp(&b.fqn));
        let map = EventMap {
            id: new_id(),
            app_id: app.id,
            family_id: family.id,
            family_name: family.name,
            family_version_id: family_version.id,
            version: family_version.version,
            actions: mapped,
            created_ms: now_ms(),
        };
        let mut tx = self.db.pool().begin().await?;
        self.insert(&mut *tx, &map).await?;
        for action in &map.actions {
            let action = MapAction {
                map_id: map.id.clone(),
                action: action.clone(),
            };
            self.insert(&mut *tx, &action).await?;
        }
        let seq = self
            .log_change(&mut tx, &map.app_id, "event_map", &map.id, "insert")
            .await?;
        tx.commit().await?;
        Ok((map, seq))
    }

    /// The application's event maps with their actions, by family name.
    pub async fn event_maps(
        &self,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<EventMap>, StoreError> {
        let mut maps = self
            .select::<EventMap>("WHERE m.app_id = ? ORDER BY f.name")
            .bind(app_id)
            .page(page)
            .await?;
        if maps.items.is_empty() {
            return Ok(maps);
        }
        let actions: Vec<MapAction> = self
            .select(
                "JOIN application_event_maps m ON m.id = a.map_id WHERE m.app_id = ? ORDER BY c.fqn",
            )
            .bind(app_id)
            .all()
            .await?;
        for MapAction { map_id, action } in actions {
            if let Some(map) = maps.items.iter_mut().find(|m| m.id == map_id) {
                map.actions.push(action);
            }
        }
        Ok(maps)
    }

    /// One event map of the application, with its actions.
    pub async fn event_map(&self, app_id: &str, id: &str) -> Result<EventMap, StoreError> {
        let mut map: EventMap = self
            .select("WHERE m.app_id = ? AND m.id = ?")
            .bind(app_id)
            .bind(id)
            .one()
            .await?;
        let actions: Vec<MapAction> = self
            .select("WHERE a.map_id = ? ORDER BY c.fqn")
            .bind(&map.id)
            .all()
            .await?;
        map.actions = actions.into_iter().map(|a| a.action).collect();
        Ok(map)
    }

    /// Removes an event map that no SDK profile names; logged. Returns the sequence number.
    pub async fn delete_event_map(&self, app_id: &str, id: &str) -> Result<i64, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        self.statement(
            "DELETE FROM application_event_actions WHERE map_id IN \
             (SELECT id FROM application_event_maps WHERE app_id = ? AND id = ?)",
        )
        .bind(app_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let delete = self
            .statement("DELETE FROM application_event_maps WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id);
        execute_changing(delete, &mut *tx, StoreError::NotFound(EventMap::WHAT)).await?;
        // The map existed, so `id` is one of our UUIDs: no LIKE wildcards in it. SDK profiles
        // list their maps as a JSON array of ids.
        let used = self
            .statement("SELECT id FROM sdk_profiles WHERE app_id = ? AND event_map_ids LIKE ?")
            .bind(app_id)
            .bind(format!("%\"{id}\"%"))
            .fetch_optional(&mut *tx)
            .await?;
        if used.is_some() {
            return Err(StoreError::Conflict(
                "event map still named by an SDK profile",
            ));
        }
        let seq = self
            .log_change(&mut tx, app_id, "event_map", id, "delete")
            .await?;
        tx.commit().await?;
        Ok(seq)
    }
}
