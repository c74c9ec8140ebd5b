//! What the proxy adds, against the same upstream in the same run: the first chunk's arrival
//! after the request was sent, and each chunk's delay from the moment the upstream wrote it
//! (the upstream stamps every chunk), straight from the upstream and through the proxy (key
//! check against a real local store, usage tap, ledger). Goals: at most 5 ms added at the first
//! token and 1 ms at p99 per chunk.
//!
//! `cargo bench -p oqto-llm-proxy --bench proxy_overhead` (`OQTO_BENCH_REQUESTS`, default 200;
//! 40 with `OQTO_BENCH_QUICK` set, not empty). With `OQTO_BENCH_RECORD` set it also records
//! the four distributions, the proxy's against the direct path's (`oqto_bench::Figure`).

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use futures::StreamExt;
use oqto_bench::{Figure, Unit};
use oqto_e2e::llm_proxy::LlmProxyUnderTest;
use serde_json::json;

const BENCH: &str = "proxy_overhead";
const CHUNKS: usize = 50;
const SPACING: Duration = Duration::from_millis(2);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn micros_now() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// An OpenAI-shaped stream whose every chunk carries the moment it was written.
async fn upstream() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let stream = futures::stream::unfold(0usize, |i| async move {
                if i > CHUNKS {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(SPACING).await;
                }
                let text = if i == CHUNKS {
                    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":50}}\n\ndata: [DONE]\n\n".to_owned()
                } else {
                    format!(
                        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"t@{}@\"}}}}]}}\n\n",
                        micros_now()
                    )
                };
                Some((Ok::<_, std::convert::Infallible>(Bytes::from(text)), i + 1))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // As a provider's server would: chunks out as they are written.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

/// Per request: microseconds to the first chunk; per chunk: microseconds since it was written.
async fn run(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    requests: usize,
) -> (Vec<u64>, Vec<u64>) {
    let (mut first, mut delays) = (Vec::new(), Vec::new());
    for _ in 0..requests {
        let sent = Instant::now();
        let answer = http
            .post(url)
            .bearer_auth(key)
            .json(&json!({"model": "bench", "stream": true,
                "messages": [{"role": "user", "content": "go"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let mut stream = answer.bytes_stream();
        let mut got_first = false;
        while let Some(chunk) = stream.next().await {
            let now = micros_now();
            let text = String::from_utf8_lossy(&chunk.unwrap()).into_owned();
            for stamp in text.split("t@").skip(1) {
                let written: u64 = stamp.split('@').next().unwrap().parse().unwrap();
                delays.push(now.saturating_sub(written));
                if !got_first {
                    first.push(sent.elapsed().as_micros() as u64);
                    got_first = true;
                }
            }
        }
    }
    (first, delays)
}

fn percentile(values: &mut [u64], p: f64) -> f64 {
    values.sort_unstable();
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let requests = oqto_bench::count("OQTO_BENCH_REQUESTS", 200, 40);
    epoch();
    let base = upstream().await;
    let proxy = LlmProxyUnderTest::start(
        json!({"providers": [{"name": "up", "api": "openai-completions", "baseUrl": base}],
               "models": [{"provider": "up", "id": "bench", "contextWindow": 1000, "maxTokens": 100,
                           "price": {"input": 1, "output": 1}}]}),
        "unused",
        &[],
    )
    .await;
    let key = proxy.key("s1");
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let direct_url = format!("{base}/chat/completions");
    let proxy_url = format!("{}/v1/chat/completions", proxy.url);
    // Warm both paths (connections, the store's first read), then alternate rounds so that
    // both see the same machine.
    run(&http, &direct_url, &key, 5).await;
    run(&http, &proxy_url, &key, 5).await;
    let (mut direct_first, mut direct_delay) = (Vec::new(), Vec::new());
    let (mut proxy_first, mut proxy_delay) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let (f, d) = run(&http, &direct_url, &key, requests / 10).await;
        direct_first.extend(f);
        direct_delay.extend(d);
        let (f, d) = run(&http, &proxy_url, &key, requests / 10).await;
        proxy_first.extend(f);
        proxy_delay.extend(d);
    }
    println!(
        "LLM proxy overhead: {} requests of {CHUNKS} chunks {} ms apart, each path",
        direct_first.len(),
        SPACING.as_millis()
    );
    let row = |name: &str, direct: f64, proxied: f64| {
        println!(
            "{name:<34} direct {direct:>8.3} ms   proxy {proxied:>8.3} ms   added {:>7.3} ms",
            proxied - direct
        );
    };
    row(
        "first chunk after request, p50",
        percentile(&mut direct_first, 0.5),
        percentile(&mut proxy_first, 0.5),
    );
    row(
        "first chunk after request, p99",
        percentile(&mut direct_first, 0.99),
        percentile(&mut proxy_first, 0.99),
    );
    row(
        "chunk delay after written, p50",
        percentile(&mut direct_delay, 0.5),
        percentile(&mut proxy_delay, 0.5),
    );
    row(
        "chunk delay after written, p99",
        percentile(&mut direct_delay, 0.99),
        percentile(&mut proxy_delay, 0.99),
    );
    let figure = |what: &str, micros: &[u64]| {
        Figure::distribution(
            BENCH,
            what,
            Unit::Us,
            micros.iter().map(|&us| us as f64).collect(),
        )
    };
    figure("first chunk: direct", &direct_first)
        .plotted_in("proxy first chunk")
        .record();
    figure("first chunk: proxy", &proxy_first)
        .against("first chunk: direct")
        .target("≤ 5 ms added")
        .plotted_in("proxy first chunk")
        .record();
    figure("chunk delay: direct", &direct_delay)
        .plotted_in("proxy chunk delay")
        .record();
    figure("chunk delay: proxy", &proxy_delay)
        .against("chunk delay: direct")
        .target("≤ 1 ms added at p99")
        .plotted_in("proxy chunk delay")
        .record();
}
