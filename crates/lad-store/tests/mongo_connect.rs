//! Connecting the `mg` backend: TLS with a generated CA and server certificate (right CA, wrong
//! CA, `verify_cert: false`), SCRAM credentials with URL-special characters, and a server that is
//! not there. Each test starts its own `secantusd-rs` (see `lad_store::mongo::testserver`); they
//! fail without one unless `LAD_SKIP_MONGO=1`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bson::doc;
use lad_store::mongo::testserver::{self, ServerTls, TestServer};
use lad_store::{MongoConfig, MongoStore, NewRecord, RecordArchive, RecordSource, StoreError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// `None` when skipping was asked for; panics when there is no server binary.
fn server(tls: Option<&ServerTls>, auth: bool) -> Option<TestServer> {
    if testserver::skip_requested() {
        eprintln!("LAD_SKIP_MONGO=1: skipping a MongoDB test");
        return None;
    }
    match TestServer::start(tls, auth) {
        Ok(s) => Some(s),
        Err(e) => panic!("{e}"),
    }
}

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    other_ca: PathBuf,
    tls: ServerTls,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a PEM file");
    path
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params.self_signed(&key).expect("a CA certificate"), key)
}

/// A CA, a server certificate it signs (for localhost and 127.0.0.1), and an unrelated CA.
fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (ca_cert, ca_key) = ca("lad test CA");
    let (other, _) = ca("some other CA");
    let key = KeyPair::generate().expect("a server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("a server certificate");
    Pki {
        ca: write(dir.path(), "ca.pem", &ca_cert.pem()),
        other_ca: write(dir.path(), "other-ca.pem", &other.pem()),
        tls: ServerTls {
            cert: write(dir.path(), "server.pem", &cert.pem()),
            key: write(dir.path(), "server.key", &key.serialize_pem()),
        },
        _dir: dir,
    }
}

fn config(port: u16) -> MongoConfig {
    MongoConfig {
        host: "127.0.0.1".into(),
        port,
        db: testserver::unique_db("lad_connect"),
        server_selection_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(3),
        ..MongoConfig::default()
    }
}

fn one_record() -> NewRecord {
    NewRecord {
        original_id: None,
        host: "h".into(),
        time: 1_704_456_000_000,
        message: "hello".into(),
        extra: serde_json::Map::new(),
    }
}

/// The store works: a record goes in and comes back as unscored.
fn usable(store: &mut MongoStore) {
    store.import("logs", &[one_record()]).expect("import");
    let batch = store.next_unscored("logs", &[], 10).expect("read");
    assert_eq!(batch.records.len(), 1);
}

#[test]
fn tls_right_ca_connects_wrong_ca_fails_and_no_verify_connects() {
    let pki = pki();
    let Some(server) = server(Some(&pki.tls), false) else {
        return;
    };
    let right = MongoConfig {
        tls: true,
        ca_cert: Some(pki.ca.clone()),
        ..config(server.port)
    };
    let mut store = MongoStore::open(&right).unwrap_or_else(|e| panic!("right CA: {e}"));
    usable(&mut store);

    let wrong = MongoConfig {
        ca_cert: Some(pki.other_ca.clone()),
        ..right.clone()
    };
    let err = MongoStore::open(&wrong).expect_err("a server certificate from another CA");
    let text = err.to_string();
    assert!(
        text.contains(&pki.other_ca.display().to_string()),
        "the error names the CA file: {text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "the error names the server: {text}"
    );

    let unverified = MongoConfig {
        verify_cert: false,
        db: testserver::unique_db("lad_connect"),
        ..wrong.clone()
    };
    let mut store =
        MongoStore::open(&unverified).unwrap_or_else(|e| panic!("verify_cert false: {e}"));
    usable(&mut store);

    // Plain TCP to a TLS server does not work either.
    let plain = MongoConfig {
        tls: false,
        ca_cert: None,
        ..right
    };
    assert!(MongoStore::open(&plain).is_err());
}

#[test]
fn unreadable_ca_file_is_a_config_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let missing = dir.path().join("nope.pem");
    let not_pem = write(dir.path(), "junk.pem", "not a certificate");
    for path in [missing, not_pem] {
        let err = MongoStore::open(&MongoConfig {
            ca_cert: Some(path.clone()),
            ..config(1)
        })
        .expect_err("a bad CA file");
        assert!(matches!(err, StoreError::Config { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn scram_credentials_with_url_special_characters() {
    let Some(server) = server(None, true) else {
        return;
    };
    let user = "lad@ops:team/1";
    let password = "p@ss:w/rd%";
    // The localhost exception: the first user may be created without credentials.
    {
        let admin = MongoStore::open(&MongoConfig {
            db: "admin".into(),
            ..config(server.port)
        });
        // With --auth even ping may need credentials; then create the user through the raw driver.
        let client = match &admin {
            Ok(s) => s.client().clone(),
            Err(_) => {
                let mut options = mongodb::options::ClientOptions::default();
                options.hosts = vec![mongodb::options::ServerAddress::Tcp {
                    host: "127.0.0.1".into(),
                    port: Some(server.port),
                }];
                mongodb::sync::Client::with_options(options).expect("a client")
            }
        };
        client
            .database("admin")
            .run_command(doc! {
                "createUser": user,
                "pwd": password,
                "roles": [{ "role": "root", "db": "admin" }],
            })
            .run()
            .expect("create the user");
    }
    let good = MongoConfig {
        user: Some(user.into()),
        password: Some(password.into()),
        ..config(server.port)
    };
    let mut store = MongoStore::open(&good).unwrap_or_else(|e| panic!("with credentials: {e}"));
    usable(&mut store);

    let bad = MongoConfig {
        password: Some("wrong".into()),
        ..good.clone()
    };
    let err = MongoStore::open(&bad).expect_err("a wrong password");
    assert!(
        !err.is_transient(),
        "bad credentials are not transient: {err}"
    );
    assert!(
        err.to_string().contains(user),
        "the error names the user: {err}"
    );

    let anonymous = MongoConfig {
        user: None,
        password: None,
        ..good
    };
    let refused = MongoStore::open(&anonymous).and_then(|mut s| s.list_sources());
    assert!(refused.is_err(), "without credentials reads are refused");
}

#[test]
fn an_absent_server_is_a_transient_error_naming_it() {
    if testserver::skip_requested() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let config = MongoConfig {
        server_selection_timeout: Duration::from_millis(500),
        ..config(port)
    };
    let started = Instant::now();
    let err = MongoStore::open(&config).expect_err("nothing listens there");
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    // Bounded by the configured timeout (generous margin: this is not a timing test).
    assert!(started.elapsed() < Duration::from_secs(30));
}
