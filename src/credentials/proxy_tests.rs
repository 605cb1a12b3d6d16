//! The proxy in process, against a provider on loopback: what a container cannot make it do.

use super::*;
use crate::model::Budget;
use std::time::Duration;

/// A provider whose `/v1/messages` counts each request in `arrived` and holds its answer
/// until `release` has a permit for it, and whose `/v1/models` redirects to `elsewhere`.
async fn provider(
    arrived: Arc<tokio::sync::watch::Sender<usize>>,
    release: Arc<tokio::sync::Semaphore>,
    elsewhere: String,
) -> String {
    let app = axum::Router::new()
        .route(
            "/v1/messages",
            axum::routing::post(move || {
                let (arrived, release) = (arrived.clone(), release.clone());
                async move {
                    arrived.send_modify(|n| *n += 1);
                    release.acquire().await.unwrap().forget();
                    "{}"
                }
            }),
        )
        .route(
            "/v1/models",
            axum::routing::get(move || {
                let to = elsewhere.clone();
                async move { axum::response::Redirect::temporary(&to) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn proxy_to(base: &str) -> (CredentialProxy, String, String) {
    proxy_with(base, Provider::Anthropic, Budget::default()).await
}

/// A proxy for one key of `provider` to `base`; (proxy, its URL for that provider, token).
async fn proxy_with(
    base: &str,
    provider: Provider,
    budget: Budget,
) -> (CredentialProxy, String, String) {
    let proxy = CredentialProxy::new().unwrap();
    let token = new_token().unwrap();
    let id = WorkspaceId::new();
    let key = RouteKey {
        name: KeyName::parse(provider.as_str()).unwrap(),
        base_url: base.to_string(),
        value: Sensitive::new("sk-real".to_string()),
        budget,
        used: Mutex::new((String::new(), Default::default())),
    };
    let route = Route::new(
        token_digest(token.expose()),
        None,
        HashMap::from([(provider, key)]),
    );
    proxy
        .bind(id, "127.0.0.1:0".parse().unwrap(), route)
        .await
        .unwrap();
    let url = format!(
        "http://{}{}",
        proxy.address(id).unwrap(),
        path_prefix(provider)
    );
    (proxy, url, token.expose().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_sixteen_requests_of_a_workspace_are_in_flight() {
    let arrived = Arc::new(tokio::sync::watch::Sender::new(0));
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let base = provider(
        arrived.clone(),
        release.clone(),
        "http://127.0.0.1:9/".into(),
    )
    .await;
    let (_proxy, url, token) = proxy_to(&base).await;
    let client = reqwest::Client::new();
    let send = || {
        client
            .post(format!("{url}/v1/messages"))
            .header("x-api-key", token.as_str())
            .body("{}")
            .send()
    };
    let held: Vec<_> = (0..MAX_IN_FLIGHT).map(|_| tokio::spawn(send())).collect();
    let mut count = arrived.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        count.wait_for(|n| *n >= MAX_IN_FLIGHT),
    )
    .await
    .expect("the 16 never arrived")
    .unwrap();
    let refused = send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let text = refused.text().await.unwrap();
    assert!(text.contains("more than 16 requests at once"), "{text}");
    assert_eq!(*arrived.borrow(), MAX_IN_FLIGHT);
    // They end, and the workspace may send again.
    release.add_permits(MAX_IN_FLIGHT + 1);
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_redirect_is_passed_back_never_followed_with_the_key() {
    // Where the redirect points: records whether anything arrived.
    let stolen = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!("http://{}/steal", stolen.local_addr().unwrap());
    let base = provider(
        Arc::default(),
        Arc::new(tokio::sync::Semaphore::new(0)),
        elsewhere.clone(),
    )
    .await;
    let (_proxy, url, token) = proxy_to(&base).await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{url}/v1/models"))
        .header("x-api-key", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    assert_eq!(res.headers()["location"], elsewhere.as_str());
    let arrived = tokio::time::timeout(Duration::from_millis(300), stolen.accept()).await;
    assert!(arrived.is_err(), "the proxy followed the redirect");
}

/// Waits until the tally of an answer has landed (the proxy reports it once the answer ended).
async fn tallied(records: &mut tokio::sync::mpsc::UnboundedReceiver<Record>) {
    loop {
        let record = tokio::time::timeout(Duration::from_secs(5), records.recv())
            .await
            .expect("no tokens recorded");
        if let Some(Record::Tokens { .. }) = record {
            return;
        }
    }
}

/// OpenAI's way: `Authorization: Bearer`, with the real key swapped in and the container's
/// own organisation and project headers left behind; and a token budget that ends once an
/// answer's tokens spend it.
#[tokio::test]
async fn openai_calls_get_the_key_and_a_token_budget_holds() {
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/embeddings",
        axum::routing::post(move |h: axum::http::HeaderMap| {
            let log = log.clone();
            async move {
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let scoped =
                    h.contains_key("openai-project") || h.contains_key("openai-organization");
                log.lock().unwrap().push((auth, scoped));
                axum::Json(serde_json::json!({"usage": {"prompt_tokens": 40, "total_tokens": 40}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let budget = Budget {
        requests_per_day: None,
        tokens_per_day: Some(50),
    };
    let (proxy, url, token) = proxy_with(&base, Provider::Openai, budget).await;
    let mut records = proxy.take_records().unwrap();
    let client = reqwest::Client::new();
    // (status, body): the body read to its end, as the usage tap needs.
    let call = || async {
        let res = client
            .post(format!("{url}/v1/embeddings"))
            .bearer_auth(&token)
            .header("openai-project", "proj_attacker")
            .header("openai-organization", "org_attacker")
            .body("{}")
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    };
    assert_eq!(call().await.0, 200);
    assert_eq!(
        seen.lock().unwrap().pop(),
        Some(("Bearer sk-real".to_string(), false))
    );
    // 40 of 50 tokens: one more is let in, then refused.
    tallied(&mut records).await;
    assert_eq!(call().await.0, 200);
    tallied(&mut records).await;
    let (status, refused) = call().await;
    assert_eq!(status, 429, "the token budget never held");
    assert!(refused.contains("50 tokens a day is spent"), "{refused}");
    assert!(refused.contains("budget_spent"), "{refused}");
}
