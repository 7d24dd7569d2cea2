//! The internode TLS of test nodes: one cluster CA per test process, made on first use, and one
//! node certificate under it for 127.0.0.1 and `localhost`, which every cluster-mode test node
//! serves with and test clients call with. Clusters in tests thus run over mutual TLS.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kaa_cluster::rpc::Security;
use kaa_cluster::rpc::certs::{self, NodeSubject, TlsFiles};

/// The test process's cluster CA and its node identity.
pub struct TestCa {
    dir: PathBuf,
    node: TlsFiles,
    security: Security,
}

/// The test CA, made once per test process in a temporary folder that outlives the nodes.
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("kaa-test-ca-")
            .tempdir()
            .expect("temporary folder for the test CA")
            .keep();
        let ca_dir = dir.join("ca");
        certs::init_ca(&ca_dir).expect("make the test CA");
        let node = issue(&ca_dir, "test-node", &dir.join("node"));
        let security = Security::mutual_tls(&node).expect("load the test node identity");
        TestCa {
            dir: ca_dir,
            node,
            security,
        }
    })
}

/// Issues a certificate for 127.0.0.1 and `localhost` from the CA in `ca_dir` into `out`.
pub fn issue(ca_dir: &Path, name: &str, out: &Path) -> TlsFiles {
    let subject = NodeSubject {
        name: name.into(),
        ips: vec!["127.0.0.1".parse().expect("an IP address")],
        dns: vec!["localhost".into()],
    };
    certs::issue(ca_dir, &subject, 1, out).expect("issue a test certificate")
}

impl TestCa {
    /// The CA folder (`ca.pem`, `ca.key`).
    pub fn ca_dir(&self) -> &Path {
        &self.dir
    }

    /// The node identity every cluster-mode test node gets.
    pub fn node_files(&self) -> &TlsFiles {
        &self.node
    }

    /// How test clients call nodes: mutual TLS with the node identity.
    pub fn security(&self) -> Security {
        self.security.clone()
    }
}
