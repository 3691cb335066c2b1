//! Many clients at once: searches stay correct while the catalog changes
//! underneath them, and a change reaches every search within seconds
//! (the cache is keyed by catalog version).

use std::time::Duration;

use futures::future::join_all;

use crate::support::{seed_file, TestApp};

crate::on_every_backend!(searches_stay_correct_while_the_catalog_changes);

async fn searches_stay_correct_while_the_catalog_changes(app: TestApp) {
    let before = app.json("/api/products?q=zanzibarite", 200).await;
    assert_eq!(before["total"], 0);

    // 64 clients search continuously while a re-import adds a product.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let client = app.client.clone();
            let base = app.url("/api/products");
            let stop = stop.clone();
            tokio::spawn(async move {
                let queries = [
                    "samsung",
                    "laptop",
                    "iphone case",
                    "watch",
                    "shirt",
                    "zanzibarite",
                ];
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let q = queries[(i + n as usize) % queries.len()];
                    let res = client
                        .get(format!("{base}?q={q}&limit=5"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status().as_u16(), 200, "q={q}");
                    let body: serde_json::Value = res.json().await.unwrap();
                    assert!(
                        body["items"].as_array().unwrap().len() as u64
                            <= body["total"].as_u64().unwrap().max(5)
                    );
                    n += 1;
                }
                n
            })
        })
        .collect();

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"{"sku":"NEW-ZANZ-1","name":"Zanzibarite Gemstone Pendant","brand":"Acme","category":["Jewellery","Pendants"],"price":{"amount":4999,"currency":"USD"},"popularity":1}"#,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = seed_file(&app.config, file.path().to_owned()).await;
    assert_eq!(report.counts.imported, 1);

    // Visible within a few seconds despite the cached empty answer.
    let mut found = false;
    for _ in 0..40 {
        if app.json("/api/products?q=zanzibarite", 200).await["total"] == 1 {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done: Vec<u32> = join_all(clients)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(found, "the new product became searchable");
    assert!(
        done.iter().sum::<u32>() >= 64,
        "every client completed requests"
    );
}
