//! The credential proxy against calling the provider directly, in one process: a fake
//! provider on loopback, Berth's proxy in front of it (token check, key swap, usage tap), one
//! keep-alive HTTP client for both. What the proxy adds per request, and whether a streamed
//! answer's first event reaches the client as soon as the provider sends it.

use crate::stats::{Report, summary};
use berth::credentials::{CredentialProxy, Route, RouteKey, new_token, token_digest};
use berth::model::{Budget, KeyName, Provider, WorkspaceId};
use berth::secrets::Sensitive;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the fake provider takes to its first streamed event, and between the rest. Real
/// models take hundreds of milliseconds to a first token; 20 ms keeps the bench short while
/// leaving the proxy's share visible.
const FIRST_EVENT: Duration = Duration::from_millis(20);
const EVENTS: usize = 10;

async fn messages(body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !body.contains("\"stream\":true") {
        return axum::Json(serde_json::json!({
            "type": "message", "usage": {"input_tokens": 10, "output_tokens": 5}
        }))
        .into_response();
    }
    let stream = futures_util::stream::unfold(0usize, |i| async move {
        if i > EVENTS {
            return None;
        }
        tokio::time::sleep(if i == 0 {
            FIRST_EVENT
        } else {
            Duration::from_millis(5)
        })
        .await;
        let event = format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{i}}}\n\n"
        );
        Some((Ok::<_, std::convert::Infallible>(event), i + 1))
    });
    (
        [("content-type", "text/event-stream")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Milliseconds to the whole answer (`first`: to its first body chunk).
async fn call(client: &reqwest::Client, url: &str, token: &str, stream: bool, first: bool) -> f64 {
    let body = format!(r#"{{"model":"m","max_tokens":8,"stream":{stream}}}"#);
    let started = Instant::now();
    let mut res = client
        .post(url)
        .header("x-api-key", token)
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    if first {
        let chunk = res.chunk().await.expect("chunk");
        assert!(chunk.is_some());
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        while res.chunk().await.expect("chunk").is_some() {}
        return ms;
    }
    while res.chunk().await.expect("chunk").is_some() {}
    started.elapsed().as_secs_f64() * 1000.0
}

pub async fn run(report: &mut Report, rounds: usize) {
    let app = axum::Router::new().route("/v1/messages", axum::routing::post(messages));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let direct = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let proxy = CredentialProxy::new().expect("proxy");
    let mut records = proxy.take_records().expect("records");
    tokio::spawn(async move { while records.recv().await.is_some() {} });
    let token = new_token().unwrap();
    let key = RouteKey {
        name: KeyName::parse("anthropic").unwrap(),
        base_url: direct.clone(),
        value: Sensitive::new("sk-ant-bench".to_string()),
        budget: Budget::default(),
        used: Mutex::new((String::new(), Default::default())),
    };
    let id = WorkspaceId::new();
    proxy
        .bind(
            id,
            "127.0.0.1:0".parse().unwrap(),
            Route::new(
                token_digest(token.expose()),
                None,
                HashMap::from([(Provider::Anthropic, key)]),
            ),
        )
        .await
        .expect("bind");
    let through = format!(
        "http://{}/anthropic/v1/messages",
        proxy.address(id).unwrap()
    );
    let direct = format!("{direct}/v1/messages");
    let client = berth::credentials::http_client().unwrap();
    let token = token.expose().clone();

    // Warm-up: connections open, code paged in.
    for _ in 0..20 {
        call(&client, &direct, "k", false, false).await;
        call(&client, &through, &token, false, false).await;
    }
    let (mut base, mut berth) = (Vec::new(), Vec::new());
    for _ in 0..rounds * 40 {
        base.push(call(&client, &direct, "k", false, false).await);
        berth.push(call(&client, &through, &token, false, false).await);
    }
    let added: Vec<f64> = berth.iter().zip(&base).map(|(b, d)| b - d).collect();
    let (bm, blo, bhi) = summary(&berth);
    let (dm, _, _) = summary(&base);
    let (am, alo, ahi) = summary(&added);
    report.single(
        "credential proxy: a request (keep-alive, JSON answer)",
        format!("{bm:.2} ms ({blo:.2}–{bhi:.2})"),
        format!("straight to the provider: {dm:.2} ms"),
        format!("+{am:.2} ms ({alo:+.2}–{ahi:+.2})"),
        "≤ +1 ms",
        am <= 1.0,
    );

    let (mut base, mut berth) = (Vec::new(), Vec::new());
    for _ in 0..rounds * 4 {
        base.push(call(&client, &direct, "k", true, true).await);
        berth.push(call(&client, &through, &token, true, true).await);
    }
    report.paired(
        "credential proxy: first SSE event (provider sends it after 20 ms)",
        &berth,
        &base,
        Some(1.05),
    );
    proxy.close_all();
}
