//! `CONNECT` through the fault proxy: TLS interception with the generated CA (a client that
//! trusts it works and faults apply inside; one that does not fails with a certificate error
//! and the proxy survives), plain tunnelling when interception is off, and scope.

mod server_support;

use http::StatusCode;
use server_support::*;
use shakedown_faults::server::ProxySettings;
use shakedown_faults::{CallPlan, Fault, Step, Synthetic};

fn settings_for(up: &TestUpstream) -> ProxySettings {
    ProxySettings {
        upstream_ca_file: Some(
            up.cert_file
                .as_ref()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        ),
        ..ProxySettings::default()
    }
}

/// Answers 429 by itself when an error fault fires.
fn short_circuit() -> shakedown_faults::Planner {
    planner(|_, fired| {
        let mut p = CallPlan::passthrough();
        if let Some(Fault::Error { status, message }) = fired.first().map(|f| &f.fault) {
            p.respond = Some(Synthetic {
                status: StatusCode::from_u16(*status).unwrap(),
                headers: http::HeaderMap::new(),
                body: vec![Step::Data(message.clone().into())],
            });
        }
        p
    })
}

#[tokio::test]
async fn intercepted_https_works_for_a_client_trusting_the_ca_and_faults_apply_inside() {
    let up = TestUpstream::start_tls().await;
    let decider = ScriptedDecider::new(|call| {
        call.path.contains("/limited").then(|| Fault::Error {
            status: 429,
            message: "slow down".into(),
        })
    });
    let mut p = start_proxy(settings_for(&up), decider, short_circuit()).await;
    let ca = p
        .handle
        .ca_cert_path()
        .expect("interception has a CA")
        .to_path_buf();
    assert!(ca.starts_with(p.ca_dir.path()));
    let trusting = client_config(&[&ca]);
    let port = up.addr.port();
    let mut conn = https_via_connect(p.handle.addr(), "localhost", port, trusting.clone())
        .await
        .unwrap();
    let resp = conn
        .send_request(request("POST", "/tools/echo", "inside tls"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-upstream-path"], "/tools/echo");
    assert_eq!(read_body(resp).await.unwrap(), "inside tls");
    assert_eq!(up.last().headers["host"], format!("localhost:{port}"));
    // Same tunnel, keep-alive: the fault answers before the upstream is asked.
    let resp = conn
        .send_request(request("POST", "/v1/limited", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(read_body(resp).await.unwrap(), "slow down");
    assert_eq!(up.hits(), 1);
    let ev = next_event(&mut p.events).await;
    assert_eq!(
        ev.data["url"],
        format!("https://localhost:{port}/v1/limited")
    );
    assert_eq!(ev.data["call_number"], 2);
    // An IP target (no SNI) gets a certificate for the IP.
    let mut conn = https_via_connect(p.handle.addr(), "127.0.0.1", port, trusting)
        .await
        .unwrap();
    let resp = conn.send_request(request("GET", "/ip", "")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    p.handle.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_and_the_proxy_survives() {
    let up = TestUpstream::start_tls().await;
    let p = start_proxy(settings_for(&up), ScriptedDecider::none(), passthrough()).await;
    let port = up.addr.port();
    // Trusts only the upstream's own certificate, not the proxy's CA.
    let untrusting = client_config(&[up.cert_file.as_deref().unwrap()]);
    let err = match https_via_connect(p.handle.addr(), "localhost", port, untrusting).await {
        Ok(_) => panic!("a client that does not trust the CA completed the handshake"),
        Err(e) => e,
    };
    let io = err
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .expect("an io error from the handshake");
    let tls = io
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .expect("a rustls error inside");
    assert!(
        matches!(
            tls,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{tls:?}"
    );
    assert_eq!(up.hits(), 0);
    // The proxy still serves a client that trusts it.
    let ca = p.handle.ca_cert_path().unwrap().to_path_buf();
    let mut conn = https_via_connect(p.handle.addr(), "localhost", port, client_config(&[&ca]))
        .await
        .unwrap();
    let resp = conn
        .send_request(request("GET", "/after", ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    p.handle.shutdown().await;
}

#[tokio::test]
async fn the_ca_is_generated_once_and_reused_across_restarts() {
    let up = TestUpstream::start_tls().await;
    let p = start_proxy(settings_for(&up), ScriptedDecider::none(), passthrough()).await;
    let ca_path = p.handle.ca_cert_path().unwrap().to_path_buf();
    let first = std::fs::read(&ca_path).unwrap();
    let mut settings = settings_for(&up);
    settings.ca_dir = Some(p.ca_dir.path().to_string_lossy().into_owned());
    let halt = tokio_util::sync::CancellationToken::new();
    let again = shakedown_faults::FaultProxy::start(shakedown_faults::FaultProxyOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings,
        decider: ScriptedDecider::none(),
        planner: passthrough(),
        events: None,
        halt,
    })
    .await
    .unwrap();
    assert_eq!(std::fs::read(again.ca_cert_path().unwrap()).unwrap(), first);
    // A client that trusted the first run's CA trusts the second run too.
    let mut conn = https_via_connect(
        again.addr(),
        "localhost",
        up.addr.port(),
        client_config(&[&ca_path]),
    )
    .await
    .unwrap();
    let resp = conn.send_request(request("GET", "/x", "")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    again.shutdown().await;
    p.handle.shutdown().await;
}

#[tokio::test]
async fn without_interception_connect_tunnels_bytes_untouched() {
    let up = TestUpstream::start_tls().await;
    let settings = ProxySettings {
        intercept_tls: false,
        ..ProxySettings::default()
    };
    // A decider that would fire on everything: a tunnel carries no call it could see.
    let decider = ScriptedDecider::new(|_| {
        Some(Fault::Error {
            status: 500,
            message: "must not fire".into(),
        })
    });
    let p = start_proxy(settings, decider, short_circuit()).await;
    assert!(p.handle.ca_cert_path().is_none());
    // The client sees the upstream's own certificate end to end.
    let direct = client_config(&[up.cert_file.as_deref().unwrap()]);
    let mut conn = https_via_connect(p.handle.addr(), "localhost", up.addr.port(), direct)
        .await
        .unwrap();
    let resp = conn
        .send_request(request("POST", "/t", "raw"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read_body(resp).await.unwrap(), "raw");
    // An unreachable target is refused before the tunnel opens.
    let port = dead_port().await;
    let err = connect_tunnel(p.handle.addr(), &format!("127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("502"), "{err}");
    p.handle.shutdown().await;
}

#[tokio::test]
async fn connect_outside_loopback_is_refused() {
    let p = start_proxy(
        ProxySettings::default(),
        ScriptedDecider::none(),
        passthrough(),
    )
    .await;
    let err = connect_tunnel(p.handle.addr(), "example.com:443")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("403") && text.contains("out_of_scope"),
        "{text}"
    );
    p.handle.shutdown().await;
}
