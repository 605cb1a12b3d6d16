//! The IDE gateway's cost: a request through Berth's front door against the same request
//! straight to the container's own address, alternating, on fresh connections (as a browser's
//! first request of a page); and an upgraded connection's throughput (the WebSocket path:
//! after `101` the gateway is a byte pipe) against the same stream read directly.

use crate::fixture::{self, Fixture};
use crate::stats::{Report, summary};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Bytes per throughput round.
const STREAM_BYTES: usize = 64 << 20;

pub fn run(report: &mut Report, rounds: usize) {
    let fx = Fixture::new();
    let project = fx.project("gw");
    fx.berth(&[
        "create",
        "gw",
        "--image",
        fixture::TEST_IMAGE,
        "--project",
        project.to_str().unwrap(),
    ]);
    fx.berth(&["start", "gw"]);
    let shown: serde_json::Value =
        serde_json::from_str(&fx.berth(&["show", "gw", "--json"])).unwrap();
    let front = format!("127.0.0.1:{}", shown["port"]);
    let container = shown["container_name"].as_str().unwrap();
    let ip = fixture::docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ]);
    let direct = format!("{}:8080", ip.trim());
    let link = fx.berth(&["open", "--print-link", "gw"]);
    let cookie = login(link.lines().last().unwrap());

    // Latency: one GET of /healthz each, fresh connection, answer read to the end.
    let get = |addr: &str, cookie: &str| {
        let started = Instant::now();
        let (status, _) = exchange(addr, "/healthz", cookie, false);
        assert_eq!(status, 200, "GET /healthz via {addr}");
        started.elapsed().as_secs_f64() * 1000.0
    };
    for _ in 0..20 {
        get(&front, &cookie);
        get(&direct, "");
    }
    let (mut through, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..rounds * 20 {
        through.push(get(&front, &cookie));
        bare.push(get(&direct, ""));
    }
    let (tm, ..) = summary(&through);
    let (bm, ..) = summary(&bare);
    let added: Vec<f64> = through.iter().zip(&bare).map(|(t, b)| t - b).collect();
    let (am, alo, ahi) = summary(&added);
    report.single(
        "gateway: added latency per request",
        format!("{tm:.2} ms"),
        format!("{bm:.2} ms direct"),
        format!("+{am:.2} ms ({alo:.2}–{ahi:.2})"),
        "≤ +1 ms",
        am <= 1.0,
    );

    // Throughput of an upgraded connection.
    let stream = |addr: &str, cookie: &str| {
        let started = Instant::now();
        let path = format!("/cgi-bin/stream?{STREAM_BYTES}");
        let (status, bytes) = exchange(addr, &path, cookie, true);
        assert_eq!(status, 101);
        assert!(bytes >= STREAM_BYTES, "short stream: {bytes}");
        STREAM_BYTES as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64()
    };
    stream(&front, &cookie);
    stream(&direct, "");
    let (mut through, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..rounds * 2 {
        through.push(stream(&front, &cookie));
        bare.push(stream(&direct, ""));
    }
    let ratios: Vec<f64> = through.iter().zip(&bare).map(|(t, b)| t / b).collect();
    let (tm, ..) = summary(&through);
    let (bm, ..) = summary(&bare);
    let (rm, rlo, rhi) = summary(&ratios);
    report.single(
        "gateway: upgraded connection (WebSocket) throughput",
        format!("{tm:.0} MiB/s"),
        format!("{bm:.0} MiB/s direct"),
        format!("{rm:.2}× ({rlo:.2}–{rhi:.2})"),
        "≥ 0.90×",
        rm >= 0.9,
    );
    fx.berth(&["rm", "gw"]);
    fx.stop_daemon();
}

/// Follows the one-time login link; the login cookie.
fn login(link: &str) -> String {
    let addr = link
        .strip_prefix("http://")
        .and_then(|r| r.split_once('/'))
        .map(|(a, _)| a.to_string())
        .unwrap();
    let path = &link[link.find("/_berth").unwrap()..];
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a login cookie")
        .to_string()
}

/// One request on a fresh connection; its status and how many bytes followed the head.
fn exchange(addr: &str, path: &str, cookie: &str, upgrade: bool) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if upgrade {
        req += "Connection: Upgrade\r\nUpgrade: websocket\r\n";
    } else {
        req += "Connection: close\r\n";
    }
    if !cookie.is_empty() {
        req += &format!("Cookie: {cookie}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut in_head = true;
    let mut body = 0usize;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if !in_head {
            body += n;
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            body = head.len() - end - 4;
            head.truncate(end);
            in_head = false;
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body)
}
