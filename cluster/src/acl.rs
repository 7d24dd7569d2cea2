//! Who may read and change the znodes the cluster creates.
//!
//! With digest credentials ([`ZkAccess::Digest`]) the session authenticates as `user:password`
//! and every znode the cluster creates carries ZooKeeper's `auth` id with every permission, which
//! the server expands to the session's digest id: only sessions holding the same credentials may
//! change, delete or add children to it. The records of Kaa's layout whose content is public
//! anyway ([`Readers::Anyone`]: the chroot, the Operations and Bootstrap parents and their
//! registrations, which Bootstrap hands to every device) are readable by anyone too; the rest
//! (node descriptors with admin URLs, the Control leader's internode address) only with the
//! credentials. ZooKeeper checks the delete and create permissions on the parent, so nobody
//! without the credentials can add a registration or remove one.
//!
//! A znode of an upgraded cluster, created open by an older node, is restricted to this ACL on
//! every new session ([`ZkAccess::restrict`]) when its open ACL lets us; when it does not, a
//! warning says so. [`ZkAccess::Open`] keeps Kaa 0.10's open ACLs for lab use and touches nothing.
//! See `docs/decisions/013-zookeeper-acl.md` and `docs/cluster.md`.

use std::fmt;

use tracing::{debug, warn};
use zookeeper_client as zk;

/// How this node authenticates to ZooKeeper, and so how the cluster's znodes are protected.
#[derive(Clone, PartialEq, Eq)]
pub enum ZkAccess {
    /// Digest credentials `user:password`: the cluster's znodes can be changed only with them.
    Digest(String),
    /// No credentials, and znodes anyone who reaches ZooKeeper can change (unsafe, lab use).
    Open,
}

/// Who may read a znode the cluster creates; only the cluster's credentials may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Only sessions with the cluster's credentials.
    Cluster,
    /// Anyone who reaches ZooKeeper: for records whose content is public anyway.
    Anyone,
}

/// Every permission for the creator's ids, read for anyone.
static CREATOR_ALL_ANYONE_READ: [zk::Acl; 2] = [
    zk::Acl::new_const(zk::Permission::ALL, "auth", ""),
    zk::Acl::new_const(zk::Permission::READ, "world", "anyone"),
];

impl Readers {
    /// What `world:anyone` may do on such a znode.
    fn anyone_may(self) -> zk::Permission {
        match self {
            Readers::Cluster => zk::Permission::NONE,
            Readers::Anyone => zk::Permission::READ,
        }
    }
}

impl ZkAccess {
    /// The ACL a znode for `readers` is created with.
    pub fn acls(&self, readers: Readers) -> zk::Acls<'static> {
        match (self, readers) {
            (ZkAccess::Open, _) => zk::Acls::anyone_all(),
            (ZkAccess::Digest(_), Readers::Cluster) => zk::Acls::creator_all(),
            (ZkAccess::Digest(_), Readers::Anyone) => zk::Acls::new(&CREATOR_ALL_ANYONE_READ),
        }
    }

    /// Options to create a znode of `mode` for `readers`.
    pub fn create_options(
        &self,
        mode: zk::CreateMode,
        readers: Readers,
    ) -> zk::CreateOptions<'static> {
        mode.with_acls(self.acls(readers))
    }

    /// The `digest` auth packet to send on connection, if any.
    pub(crate) fn digest(&self) -> Option<&[u8]> {
        match self {
            ZkAccess::Digest(credentials) => Some(credentials.as_bytes()),
            ZkAccess::Open => None,
        }
    }

    /// Gives the existing znode `path` the ACL it would be created with, if anyone may do more
    /// to it than `readers` allows (it was created open, by an older node or by hand). Never
    /// fails: a znode we may not read or change is reported and left alone, and the writes that
    /// need it will fail on their own.
    pub async fn restrict(&self, client: &zk::Client, path: &str, readers: Readers) {
        if *self == ZkAccess::Open {
            return;
        }
        let (acl, stat) = match client.get_acl(path).await {
            Ok(found) => found,
            Err(zk::Error::NoNode) => return,
            Err(error) => {
                warn!(path, %error, "cannot read the acl of a cluster znode; leaving it as it is");
                return;
            }
        };
        if !too_open(&acl, readers) {
            return;
        }
        match client
            .set_acl(path, &self.acls(readers), Some(stat.aversion))
            .await
        {
            Ok(_) => warn!(
                path,
                ?readers,
                "cluster znode was open to anyone; restricted it to the cluster's credentials"
            ),
            // Another node of the cluster restricted it at the same moment.
            Err(zk::Error::BadVersion) => debug!(path, "cluster znode acl changed meanwhile"),
            Err(error) => warn!(
                path,
                %error,
                "cluster znode is open to anyone and its acl cannot be changed with these credentials; restrict it by hand"
            ),
        }
    }
}

/// Whether `acl` lets anyone do more than `readers` allows.
fn too_open(acl: &[zk::Acl], readers: Readers) -> bool {
    let allowed = readers.anyone_may();
    acl.iter().any(|entry| {
        *entry.auth_id() == zk::AuthId::anyone() && (entry.permission() | allowed) != allowed
    })
}

/// Shows the digest user only, never the password.
impl fmt::Debug for ZkAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkAccess::Digest(credentials) => {
                let user = credentials.split_once(':').map_or("", |(user, _)| user);
                f.debug_struct("Digest")
                    .field("user", &user)
                    .field("password", &"<redacted>")
                    .finish()
            }
            ZkAccess::Open => f.write_str("Open"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(permission: zk::Permission, scheme: &str, id: &str) -> zk::Acl {
        zk::Acl::new(permission, zk::AuthId::new(scheme, id))
    }

    #[test]
    fn an_open_acl_is_too_open_for_every_znode() {
        let open = [acl(zk::Permission::ALL, "world", "anyone")];
        assert!(too_open(&open, Readers::Anyone));
        assert!(too_open(&open, Readers::Cluster));
    }

    #[test]
    fn read_for_anyone_is_too_open_only_for_cluster_only_znodes() {
        let public = [
            acl(zk::Permission::ALL, "digest", "kaa:hash"),
            acl(zk::Permission::READ, "world", "anyone"),
        ];
        assert!(!too_open(&public, Readers::Anyone));
        assert!(too_open(&public, Readers::Cluster));
    }

    #[test]
    fn other_ids_are_not_anyone() {
        let private = [acl(zk::Permission::ALL, "digest", "kaa:hash")];
        assert!(!too_open(&private, Readers::Cluster));
        let create_for_anyone = [acl(
            zk::Permission::READ | zk::Permission::CREATE,
            "world",
            "anyone",
        )];
        assert!(too_open(&create_for_anyone, Readers::Anyone));
    }

    #[test]
    fn digest_znodes_grant_anyone_at_most_read_and_open_ones_everything() {
        let digest = ZkAccess::Digest("kaa:secret".into());
        assert_eq!(&*digest.acls(Readers::Cluster), &*zk::Acls::creator_all());
        let public = digest.acls(Readers::Anyone);
        assert!(!too_open(&public, Readers::Anyone));
        assert!(
            public
                .iter()
                .any(|entry| entry.scheme() == "auth" && entry.permission() == zk::Permission::ALL)
        );
        assert_eq!(
            &*ZkAccess::Open.acls(Readers::Cluster),
            &*zk::Acls::anyone_all()
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", ZkAccess::Digest("kaa:s3cret".into()));
        assert!(shown.contains("kaa"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
