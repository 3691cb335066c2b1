//! End-to-end tests of the runners against the in-test HTTP server and
//! against direct closures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{run_open, Worker};
use crate::run::DirectWorker;
use crate::test_server::{spawn, Behaviour};
use crate::{fetch_category_slugs, run_direct, run_direct_open, run_http, Mode, SearchRequest};

fn q(text: &str) -> SearchRequest {
    SearchRequest {
        q: Some(text.to_owned()),
        ..Default::default()
    }
}

/// Three good requests and one the test server fails ("fail" in the path).
fn mix_with_failures() -> Vec<SearchRequest> {
    vec![q("phone"), q("red shoes & socks"), q("fail me"), q("café")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_at_the_offered_rate() {
    let server = spawn(Behaviour::ok_unless_fail()).await;
    let mode = Mode::Open {
        rate_per_sec: 200,
        connections: 4,
        duration: Duration::from_secs(1),
    };
    let requests = vec![q("phone"), q("tv")];
    let report = run_http(server.addr, &mode, &requests, "open 200")
        .await
        .unwrap();
    assert!((180..=220).contains(&report.sent), "{report}");
    assert_eq!(report.ok, report.sent, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(server.requests.load(Ordering::Relaxed), report.sent);
    assert_eq!(server.connections.load(Ordering::Relaxed), 4);
    assert_eq!(report.target_rate, Some(200));
    assert!(report.elapsed >= Duration::from_secs(1), "{report}");
    assert!(report.elapsed < Duration::from_millis(1500), "{report}");
    assert!((report.throughput() - 200.0).abs() < 25.0, "{report}");
    assert_eq!(report.histogram.len(), report.ok);
    assert!(report.percentile_ms(99.0) < 200.0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_counts_queueing_delay() {
    // One connection, 20 ms per response = 50 req/s capacity, offered 100:
    // the queue grows, so latency from the due time grows to about 1 s.
    let mut behaviour = Behaviour::ok_unless_fail();
    behaviour.delay = Duration::from_millis(20);
    let server = spawn(behaviour).await;
    let mode = Mode::Open {
        rate_per_sec: 100,
        connections: 1,
        duration: Duration::from_secs(1),
    };
    let report = run_http(server.addr, &mode, &[q("x")], "queued")
        .await
        .unwrap();
    assert_eq!(report.sent, 100, "{report}");
    assert_eq!(report.ok, 100, "{report}");
    assert!(report.max_ms() > 800.0, "{report}");
    assert!(report.percentile_ms(50.0) > 300.0, "{report}");
    assert!(report.elapsed > Duration::from_millis(1800), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_counted() {
    let server = spawn(Behaviour::ok_unless_fail()).await;
    let mode = Mode::Open {
        rate_per_sec: 400,
        connections: 2,
        duration: Duration::from_millis(500),
    };
    let report = run_http(server.addr, &mode, &mix_with_failures(), "500s")
        .await
        .unwrap();
    // Requests cycle through the mix; every fourth one fails.
    assert_eq!(report.sent, 200, "{report}");
    assert_eq!(report.errors, 50, "{report}");
    assert_eq!(report.ok, 150, "{report}");
    assert_eq!(report.unfinished, 0);
    assert_eq!(report.histogram.len(), 150);
    assert!(
        report.first_error.as_deref().unwrap_or("").contains("500"),
        "{report}"
    );

    let mode = Mode::Closed {
        concurrency: 3,
        duration: Duration::from_millis(300),
    };
    let report = run_http(server.addr, &mode, &mix_with_failures(), "closed 500s")
        .await
        .unwrap();
    assert!(report.ok > 20, "{report}");
    assert_eq!(report.ok + report.errors, report.sent);
    let share = report.errors as f64 / report.sent as f64;
    assert!((share - 0.25).abs() < 0.05, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_uses_one_connection_per_worker() {
    let server = spawn(Behaviour::ok_unless_fail()).await;
    let mode = Mode::Closed {
        concurrency: 4,
        duration: Duration::from_millis(300),
    };
    let report = run_http(server.addr, &mode, &[q("a b")], "closed")
        .await
        .unwrap();
    assert!(report.ok > 50, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.sent, server.requests.load(Ordering::Relaxed));
    assert_eq!(server.connections.load(Ordering::Relaxed), 4);
    assert!(report.elapsed >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_are_reopened() {
    let mut behaviour = Behaviour::ok_unless_fail();
    behaviour.close_after_response = true;
    let server = spawn(behaviour).await;
    let mode = Mode::Closed {
        concurrency: 2,
        duration: Duration::from_millis(300),
    };
    let report = run_http(server.addr, &mode, &[q("a")], "reconnect")
        .await
        .unwrap();
    assert!(report.ok > 10, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(
        server.connections.load(Ordering::Relaxed) >= report.ok,
        "{report}"
    );
}

#[tokio::test]
async fn bad_setups_fail_clearly() {
    let server = spawn(Behaviour::ok_unless_fail()).await;
    let closed = |concurrency| Mode::Closed {
        concurrency,
        duration: Duration::from_millis(10),
    };
    assert!(run_http(server.addr, &closed(1), &[], "x").await.is_err());
    assert!(run_http(server.addr, &closed(0), &[q("a")], "x")
        .await
        .is_err());
    let open = Mode::Open {
        rate_per_sec: 0,
        connections: 1,
        duration: Duration::from_millis(10),
    };
    assert!(run_http(server.addr, &open, &[q("a")], "x").await.is_err());

    // Nothing listens on a port we just freed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let err = run_http(dead, &closed(2), &[q("a")], "x")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot connect"), "{err:#}");
}

#[tokio::test]
async fn fetches_top_two_levels_of_category_slugs() {
    let mut behaviour = Behaviour::ok_unless_fail();
    behaviour.handler = |path| {
        assert_eq!(path, "/api/categories");
        let body = r#"{"categories":[
            {"id":"1","slug":"mobiles-accessories","name":"Mobiles & Accessories",
             "path":["Mobiles & Accessories"],"product_count":1234,"children":[
                {"id":"2","slug":"mobiles","name":"Mobiles","path":["Mobiles & Accessories","Mobiles"],
                 "product_count":1000,"children":[
                    {"id":"3","slug":"smartphones","name":"Smartphones","path":[],"product_count":1,"children":[]}]}]},
            {"id":"4","slug":"books","name":"Books","path":["Books"],"product_count":7,"children":[]}]}"#;
        (200, body.to_owned())
    };
    let server = spawn(behaviour).await;
    let slugs = fetch_category_slugs(server.addr).await.unwrap();
    assert_eq!(slugs, vec!["mobiles-accessories", "books", "mobiles"]);

    let failing = spawn(Behaviour {
        handler: |_| (500, "nope".to_owned()),
        ..Behaviour::ok_unless_fail()
    })
    .await;
    let err = fetch_category_slugs(failing.addr).await.unwrap_err();
    assert!(err.to_string().contains("500"), "{err:#}");
}

/// A direct target: fails queries containing "fail", counts calls.
fn direct_target(
    calls: Arc<AtomicU64>,
) -> impl Fn(SearchRequest) -> std::future::Ready<Result<(), String>> + Clone {
    move |req: SearchRequest| {
        calls.fetch_add(1, Ordering::Relaxed);
        let failed = req.q.as_deref().is_some_and(|q| q.contains("fail"));
        std::future::ready(if failed {
            Err("boom".to_owned())
        } else {
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_closed_and_open() {
    let calls = Arc::new(AtomicU64::new(0));
    let f = direct_target(Arc::clone(&calls));
    let report = run_direct(
        2,
        Duration::from_millis(100),
        &mix_with_failures(),
        "direct",
        f.clone(),
    )
    .await;
    assert!(report.sent > 100, "{report}");
    assert_eq!(report.sent, calls.load(Ordering::Relaxed));
    assert_eq!(report.ok + report.errors, report.sent);
    assert!(report.errors >= report.sent / 4 - 2, "{report}");

    calls.store(0, Ordering::Relaxed);
    let report = run_direct_open(
        200,
        3,
        Duration::from_secs(1),
        &mix_with_failures(),
        "open",
        f,
    )
    .await;
    assert_eq!(report.sent, 200, "{report}");
    assert_eq!(calls.load(Ordering::Relaxed), 200);
    assert_eq!(report.errors, 50, "{report}");
    assert!(report.percentile_ms(99.0) < 100.0, "{report}");
    assert!(
        run_direct(1, Duration::from_millis(10), &[], "none", |_| async {
            Ok(())
        })
        .await
        .sent
            == 0
    );
}

#[tokio::test]
async fn unfinished_requests_count_as_errors() {
    // Every call hangs: the queue never drains within the grace period.
    let hang = |_req: SearchRequest| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<(), String>(())
    };
    let workers = vec![DirectWorker(hang), DirectWorker(hang)];
    let report = run_open(
        workers,
        100,
        Duration::from_millis(100),
        Duration::from_millis(100),
        vec![q("a")].into(),
        "hung",
    )
    .await;
    assert_eq!(report.sent, 10, "{report}");
    assert_eq!(report.ok, 0);
    assert_eq!(report.errors, 10);
    assert_eq!(report.unfinished, 10);
    assert!(report.histogram.is_empty());
    assert!(report.to_string().contains("n/a"), "{report}");
    fn assert_worker<W: Worker<SearchRequest>>(_: &W) {}
    assert_worker(&DirectWorker(hang));
}
