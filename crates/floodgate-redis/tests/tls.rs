//! `rediss://`: the store talks TLS to a server that speaks nothing else. A test binary
//! of its own, because it points the process's trusted roots at a throwaway CA.

mod support;

use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use std::path::Path;
use std::process::Command;
use support::RedisServer;

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, valid for a day.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=floodgate test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[tokio::test]
async fn rediss_urls_speak_tls() {
    let dir = std::env::temp_dir().join(format!("floodgate-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let server = RedisServer::start_tls(
        &dir.join("ca.pem"),
        &dir.join("server.pem"),
        &dir.join("server.key"),
    );
    // rustls-native-certs reads the trusted roots from SSL_CERT_FILE when it is set;
    // this binary holds no other test that could race on the environment.
    std::env::set_var("SSL_CERT_FILE", dir.join("ca.pem"));

    let url = format!("rediss://127.0.0.1:{}", server.port());
    let store = RedisStore::connect(&RedisConfig::single(url))
        .await
        .unwrap();
    let limits = [Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::MINUTE,
        1,
        "m",
    )];
    let request = DecideRequest {
        subjects: Subjects {
            key: "k",
            account: "a",
        },
        limits: &limits,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    assert!(store.decide(&request).await.unwrap().allowed());
    assert!(!store.decide(&request).await.unwrap().allowed());

    // A plain connection to the TLS port gets nowhere.
    let plain = format!("redis://127.0.0.1:{}", server.port());
    assert!(RedisStore::connect(&RedisConfig::single(plain))
        .await
        .is_err());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
