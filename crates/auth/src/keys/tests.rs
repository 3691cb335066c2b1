#![allow(clippy::unwrap_used, reason = "tests")]
use super::*;

fn key_at(ms: i64) -> StoredKey {
    let mut k = generate(ms).unwrap();
    k.created_at = ms;
    k
}

#[test]
fn generated_keys_are_distinct_ed25519_pairs() {
    let a = generate(0).unwrap();
    let b = generate(0).unwrap();
    assert_ne!(a.kid, b.kid);
    assert_eq!(a.public_key.len(), 32);
    assert!(
        !format!("{a:?}").contains("private"),
        "Debug hides the private key"
    );
}

#[test]
fn jwks_urls_are_https_or_loopback_http() {
    for ok in [
        "https://auth.internal/.well-known/jwks.json",
        "https://10.0.0.5:8081/.well-known/jwks.json",
        "http://127.0.0.1:8081/.well-known/jwks.json",
        "http://127.0.0.2/.well-known/jwks.json",
        "http://localhost:8081/.well-known/jwks.json",
        "http://[::1]:8081/.well-known/jwks.json",
    ] {
        assert!(check_jwks_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://auth.internal/.well-known/jwks.json",
        "http://10.0.0.5:8081/.well-known/jwks.json",
        "http://localhost.example.com/.well-known/jwks.json",
        "http://[::ffff:10.0.0.5]/.well-known/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/jwks.json",
        "127.0.0.1:8081/.well-known/jwks.json",
    ] {
        let err = check_jwks_url(bad).unwrap_err().to_string();
        assert!(err.contains("JWKS URL"), "{bad}: {err}");
    }
    let err = JwksSource::new("http://auth.internal/jwks").unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

/// A one-answer-per-connection HTTP server on 127.0.0.1:0 (std only):
/// answers every request with `response`; counts the connections.
fn serve(response: String) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (base, hits)
}

#[tokio::test]
async fn a_redirecting_jwks_endpoint_is_not_followed() {
    let key = generate(0).unwrap();
    let body = serde_json::to_string(&Jwks {
        keys: vec![jwk(&key.kid, &key.public_key)],
    })
    .unwrap();
    let (elsewhere, fetched) = serve(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    let (redirector, _) = serve(format!(
        "HTTP/1.1 302 Found\r\nlocation: {elsewhere}/jwks.json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    ));
    let ttl = Duration::from_secs(900);
    type Ring = KeyRing<emporium_store::Store>;

    let source = JwksSource::new(&format!("{redirector}/.well-known/jwks.json")).unwrap();
    let ring = Ring::load(KeySource::Jwks(source), false, ttl)
        .await
        .unwrap();
    let err = ring.reload().await.unwrap_err().to_string();
    assert!(err.contains("302") && err.contains("not followed"), "{err}");
    assert!(ring.decoding_key(&key.kid).await.is_none());
    assert_eq!(
        fetched.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect's target was never asked"
    );

    // The target itself is a good key set: asked directly, it is used.
    let direct = JwksSource::new(&format!("{elsewhere}/jwks.json")).unwrap();
    let ring = Ring::load(KeySource::Jwks(direct), false, ttl)
        .await
        .unwrap();
    assert!(ring.decoding_key(&key.kid).await.is_some());
}

#[test]
fn old_keys_verify_until_their_tokens_have_expired() {
    let ttl = Duration::from_secs(900);
    let keys = vec![key_at(0), key_at(1_000_000), key_at(2_000_000)];
    let window = 900_000 + 120_000;
    let kids = |now| -> Vec<i64> {
        retained(&keys, ttl, now)
            .iter()
            .map(|k| k.created_at)
            .collect()
    };
    assert_eq!(kids(1_000_000 + window), vec![1_000_000, 2_000_000]);
    assert_eq!(kids(1_000_000 + window - 1), vec![0, 1_000_000, 2_000_000]);
    assert_eq!(kids(2_000_000 + window), vec![2_000_000]);
}
