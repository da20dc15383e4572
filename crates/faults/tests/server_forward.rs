//! The fault proxy as a forward proxy (`HTTP_PROXY`, absolute-form requests): faults apply,
//! scope keeps it on loopback, and halt stops everything.

mod server_support;

use std::time::{Duration, Instant};

use http::StatusCode;
use http_body_util::BodyExt;
use server_support::*;
use shakedown_faults::server::{PROXY_ERROR_HEADER, ProxySettings};
use shakedown_faults::{CallPlan, Fault};

#[tokio::test]
async fn absolute_form_requests_are_forwarded_and_faulted() {
    let up = TestUpstream::start().await;
    let decider = ScriptedDecider::new(|call| {
        call.path.contains("/slow").then(|| Fault::Slow {
            delay: Duration::from_millis(300),
        })
    });
    let plan = planner(|_, fired| {
        let mut p = CallPlan::passthrough();
        for f in fired {
            if let Fault::Slow { delay } = f.fault {
                p.pre_delay += delay;
            }
        }
        p
    });
    let mut p = start_proxy(ProxySettings::default(), decider, plan).await;
    // A hyper client configured with the proxy sends the full URL as the request target.
    let uri = format!("{}/tools/echo/slow?a=b", up.url());
    let t = Instant::now();
    let resp = send(p.handle.addr(), request("PUT", &uri, "payload"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-upstream-path"], "/tools/echo/slow?a=b");
    assert_eq!(read_body(resp).await.unwrap(), "payload");
    assert!(t.elapsed() >= Duration::from_millis(300));
    let seen = up.last();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.headers["host"], up.addr.to_string());
    let ev = next_event(&mut p.events).await;
    assert_eq!(ev.data["fault"], "slow");
    assert_eq!(ev.data["tool"], "echo");
    assert_eq!(ev.data["url"], uri);
    p.handle.shutdown().await;
}

#[tokio::test]
async fn forward_targets_outside_loopback_are_refused() {
    let up = TestUpstream::start().await;
    let p = start_proxy(
        ProxySettings::default(),
        ScriptedDecider::none(),
        passthrough(),
    )
    .await;
    for target in [
        "http://example.com/",
        "http://10.1.2.3:8080/x",
        "http://[2001:db8::1]/",
    ] {
        let resp = send(p.handle.addr(), request("GET", target, ""))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{target}");
        assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "out_of_scope");
        let v: serde_json::Value = serde_json::from_slice(&read_body(resp).await.unwrap()).unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("allow_hosts")
        );
    }
    // `localhost` resolves to loopback and is allowed.
    let uri = format!("http://localhost:{}/ok", up.addr.port());
    let resp = send(p.handle.addr(), request("GET", &uri, ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // With forwarding off, only routes are served.
    let settings = ProxySettings {
        forward: false,
        ..ProxySettings::default()
    };
    let q = start_proxy(settings, ScriptedDecider::none(), passthrough()).await;
    assert!(
        q.handle.ca_cert_path().is_none(),
        "no CA without forward proxying"
    );
    let resp = send(
        q.handle.addr(),
        request("GET", &format!("{}/x", up.url()), ""),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(up.hits(), 1);
    p.handle.shutdown().await;
    q.handle.shutdown().await;
}

#[tokio::test]
async fn halt_ends_open_calls_and_stops_accepting() {
    let up = TestUpstream::start().await;
    let decider = ScriptedDecider::new(|call| {
        call.path.contains("/hang").then(|| Fault::Slow {
            delay: Duration::from_secs(30),
        })
    });
    let plan = planner(|_, fired| {
        let mut p = CallPlan::passthrough();
        for f in fired {
            if let Fault::Slow { delay } = f.fault {
                p.pre_delay += delay;
            }
        }
        p
    });
    let p = start_proxy(routed("/", &up.url()), decider, plan).await;
    let addr = p.handle.addr();
    // One call held by a long delay, one stream in the middle of its events.
    let held = tokio::spawn(async move {
        let resp = send(addr, request("GET", "/hang", "")).await?;
        Ok::<_, anyhow::Error>(resp.status())
    });
    let resp = send(addr, request("POST", "/v1/sse", "{}")).await.unwrap();
    let mut stream = resp.into_body();
    stream.frame().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    p.halt.cancel();
    let held = tokio::time::timeout(Duration::from_secs(3), held)
        .await
        .expect("the held call ends on halt")
        .unwrap();
    // Either the proxy's 503 or a dropped connection: never the upstream's answer.
    if let Ok(status) = held {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let rest = tokio::time::timeout(Duration::from_secs(3), stream.collect())
        .await
        .expect("the open stream ends on halt");
    if let Ok(body) = rest {
        assert!(
            !body.to_bytes().ends_with(b"[DONE]\n\n"),
            "stream ran to completion after halt"
        );
    }
    tokio::time::timeout(Duration::from_secs(1), p.handle.stopped())
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    // The listener is gone: a new call cannot be served.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = send(addr, request("GET", "/x", "")).await;
    assert!(after.is_err(), "the proxy still answered after halt");
    p.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_idle_and_streaming_connections_within_its_bound() {
    let up = TestUpstream::start().await;
    let p = start_proxy(
        routed("/", &up.url()),
        ScriptedDecider::none(),
        passthrough(),
    )
    .await;
    let addr = p.handle.addr();
    // An idle keep-alive connection that already served one call.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut idle = handshake(tcp).await.unwrap();
    let resp = idle.send_request(request("GET", "/one", "")).await.unwrap();
    read_body(resp).await.unwrap();
    // A stream in the middle of its events.
    let resp = send(addr, request("POST", "/v1/sse", "{}")).await.unwrap();
    let mut stream = resp.into_body();
    stream.frame().await.unwrap().unwrap();
    let t = Instant::now();
    p.handle.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    let rest = tokio::time::timeout(Duration::from_secs(1), stream.collect())
        .await
        .expect("the stream ended with the shutdown");
    if let Ok(body) = rest {
        assert!(!body.to_bytes().ends_with(b"[DONE]\n\n"));
    }
    tokio::time::timeout(Duration::from_secs(1), async {
        while !idle.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the idle connection was closed");
    assert!(
        send(addr, request("GET", "/x", "")).await.is_err(),
        "the proxy still answered after shutdown"
    );
}

#[tokio::test]
async fn absolute_form_requests_for_the_proxy_itself_are_routed_once() {
    let up = TestUpstream::start().await;
    let decider = ScriptedDecider::new(|_| {
        Some(Fault::Slow {
            delay: Duration::from_millis(1),
        })
    });
    let mut p = start_proxy(routed("/tools", &up.url()), decider, passthrough()).await;
    // HTTP_PROXY and the tool's base URL both point at the proxy.
    let uri = format!("http://{}/tools/tools/echo", p.handle.addr());
    let resp = send(p.handle.addr(), request("POST", &uri, "once"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-upstream-path"], "/tools/echo");
    assert_eq!(read_body(resp).await.unwrap(), "once");
    assert_eq!(up.hits(), 1);
    assert_eq!(next_event(&mut p.events).await.data["call_number"], 1);
    assert!(p.events.try_recv().is_err(), "the call was counted twice");
    p.handle.shutdown().await;
}
