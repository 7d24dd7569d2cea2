//! Admin users' roles, Kaa's four: who may manage what.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The role of an admin user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Manages tenants and their administrators; belongs to no tenant.
    KaaAdmin,
    /// Manages one tenant: its users and applications.
    TenantAdmin,
    /// Builds on one tenant's applications: schemas, groups, configurations, topics, appenders…
    TenantDeveloper,
    /// Watches one tenant's applications: reads them (secrets shown as `***`), changes nothing.
    TenantUser,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::KaaAdmin,
        Role::TenantAdmin,
        Role::TenantDeveloper,
        Role::TenantUser,
    ];

    /// The name stored and shown, e.g. `TENANT_ADMIN`.
    pub fn name(self) -> &'static str {
        match self {
            Role::KaaAdmin => "KAA_ADMIN",
            Role::TenantAdmin => "TENANT_ADMIN",
            Role::TenantDeveloper => "TENANT_DEVELOPER",
            Role::TenantUser => "TENANT_USER",
        }
    }

    /// Whether users of this role belong to a tenant.
    pub fn is_tenant_role(self) -> bool {
        self != Role::KaaAdmin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown role {:?}", self.0)
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.name());
        }
        assert!("ROOT".parse::<Role>().is_err());
    }
}
