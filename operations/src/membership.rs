//! Endpoint-group membership: which of an application's groups an endpoint belongs to, decided
//! by the groups' active profile filters over its client and server profiles.
//!
//! Every endpoint belongs to the group `all`. Another group takes it when the group has an
//! active filter for the endpoint's profile-schema versions and that filter matches. A filter
//! that fails to evaluate (a type error on this endpoint's data) excludes the endpoint and is
//! logged; it never fails the sync.

use serde_json::Value;

use crate::catalog::{AppContext, GroupContext};

/// The profiles and schema versions membership is decided on.
#[derive(Debug, Clone, Copy)]
pub struct Profiles<'a> {
    /// Client-profile schema version.
    pub client_version: i64,
    /// Client profile as JSON.
    pub client: &'a Value,
    /// Server-profile schema version.
    pub server_version: i64,
    /// Server profile as JSON.
    pub server: &'a Value,
}

/// One group the endpoint is in, and the filter that admitted it (none for `all`).
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The group.
    pub group: &'a GroupContext,
    /// Id of the filter that matched.
    pub filter_id: Option<&'a str>,
}

/// The groups of `app` the endpoint belongs to, by ascending weight.
pub fn groups<'a>(app: &'a AppContext, profiles: Profiles<'_>) -> Vec<Member<'a>> {
    app.groups
        .iter()
        .filter_map(|group| {
            if group.is_all() {
                return Some(Member {
                    group,
                    filter_id: None,
                });
            }
            let filter = group.filter_for(profiles.client_version, profiles.server_version)?;
            match filter.filter.matches(profiles.client, profiles.server) {
                Ok(true) => Some(Member {
                    group,
                    filter_id: Some(filter.id.as_str()),
                }),
                Ok(false) => None,
                Err(error) => {
                    tracing::warn!(group = %group.group.id, filter = %filter.id, %error, "profile filter failed on an endpoint; not a member");
                    None
                }
            }
        })
        .collect()
}
