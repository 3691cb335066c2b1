//! Fetching the category slugs to filter by from a running server's
//! `GET /api/categories`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use http::Uri;
use http_body_util::BodyExt as _;

use crate::client::{get_request, host_header, open};

/// Give up on the categories request after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(serde::Deserialize)]
struct CategoryList {
    categories: Vec<CategoryNode>,
}

#[derive(serde::Deserialize)]
struct CategoryNode {
    slug: String,
    #[serde(default)]
    children: Vec<CategoryNode>,
}

/// Fetches the category slugs of the top two levels of the tree from the
/// server at `addr` (`GET /api/categories`), top level first, each slug once.
pub async fn fetch_category_slugs(addr: SocketAddr) -> anyhow::Result<Vec<String>> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch(addr))
        .await
        .with_context(|| format!("GET /api/categories on {addr} timed out"))?
}

async fn fetch(addr: SocketAddr) -> anyhow::Result<Vec<String>> {
    let mut sender = open(addr).await?;
    let req = get_request(Uri::from_static("/api/categories"), host_header(addr)?);
    let resp = sender
        .send_request(req)
        .await
        .with_context(|| format!("GET /api/categories on {addr} failed"))?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        let snippet = String::from_utf8_lossy(&body[..body.len().min(200)]);
        bail!("GET /api/categories on {addr} answered {status}: {snippet}");
    }
    let list: CategoryList =
        serde_json::from_slice(&body).context("unexpected /api/categories response")?;
    Ok(slugs(&list))
}

/// Top-level slugs, then second-level ones, without duplicates.
fn slugs(list: &CategoryList) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let top = list.categories.iter();
    let second = list.categories.iter().flat_map(|c| c.children.iter());
    for node in top.chain(second) {
        if !node.slug.is_empty() && !out.contains(&node.slug) {
            out.push(node.slug.clone());
        }
    }
    out
}
