//! A real Python HTTP client (httpx, installed with the `openai` SDK) through the fault proxy's
//! `CONNECT` interception: trusting the generated CA through `SSL_CERT_FILE` or `verify=` it
//! works (and a fault applies inside); trusting only the system roots it fails with an SSL
//! error. Fails, saying how to install it, when python3 has neither httpx nor httpx2.

mod server_support;

use std::process::Stdio;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use server_support::*;
use shakedown_faults::server::ProxySettings;
use shakedown_faults::{CallPlan, Fault, Step, Synthetic};

/// Imports httpx (or httpx2, the name newer SDKs install it under) and makes one POST.
/// Modes: `env` uses HTTPS_PROXY + SSL_CERT_FILE from the environment; `verify` passes the
/// proxy and an SSL context for the CA explicitly.
const SCRIPT: &str = r#"
import json, os, ssl, sys
try:
    import httpx
except ImportError:
    import httpx2 as httpx
mode, url = sys.argv[1], sys.argv[2]
try:
    if mode == "verify":
        ctx = ssl.create_default_context(cafile=os.environ["SHAKEDOWN_CA"])
        client = httpx.Client(proxy=os.environ["SHAKEDOWN_PROXY"], verify=ctx, trust_env=False, timeout=5)
    else:
        client = httpx.Client(timeout=5)
    with client:
        r = client.post(url, content=b"from python")
    print(json.dumps({"ok": True, "status": r.status_code, "body": r.text}))
except Exception as e:
    print(json.dumps({"ok": False, "type": type(e).__name__, "error": str(e)}))
"#;

/// Fails the test, saying how to install it, when python3 cannot import httpx (or httpx2):
/// a machine without it must not pass this test silently.
async fn require_httpx() {
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            "try:\n import httpx\nexcept ImportError:\n import httpx2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await;
    match out {
        Err(e) => panic!(
            "python3 is not runnable ({e}): install Python 3, then `python3 -m pip install openai httpx` (scripts/test installs them)"
        ),
        Ok(o) if !o.status.success() => panic!(
            "python3 has neither httpx nor httpx2: run `python3 -m pip install httpx` (the openai SDK brings one of them; scripts/test installs both): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Ok(_) => {}
    }
}

/// Runs the script with a clean proxy/CA environment plus `env`.
async fn python(mode: &str, url: &str, env: &[(&str, String)]) -> Value {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.args(["-c", SCRIPT, mode, url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("python finishes within 20s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn python_httpx_through_connect_interception() {
    require_httpx().await;
    let up = TestUpstream::start_tls().await;
    let decider = ScriptedDecider::new(|call| {
        call.path.contains("/limited").then(|| Fault::Error {
            status: 429,
            message: "{\"error\":\"rate limited\"}".into(),
        })
    });
    let plan = planner(|_, fired| {
        let mut p = CallPlan::passthrough();
        if let Some(Fault::Error { status, message }) = fired.first().map(|f| &f.fault) {
            p.respond = Some(Synthetic {
                status: StatusCode::from_u16(*status).unwrap(),
                headers: http::HeaderMap::new(),
                body: vec![Step::Data(message.clone().into())],
            });
        }
        p
    });
    let settings = ProxySettings {
        upstream_ca_file: Some(
            up.cert_file
                .as_ref()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        ),
        ..ProxySettings::default()
    };
    let p = start_proxy(settings, decider, plan).await;
    let proxy = format!("http://{}", p.handle.addr());
    let ca = p
        .handle
        .ca_cert_path()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let base = format!("https://localhost:{}", up.addr.port());

    // Trust through the environment, as an agent launched with these variables would.
    let env = [
        ("HTTPS_PROXY", proxy.clone()),
        ("SSL_CERT_FILE", ca.clone()),
    ];
    let v = python("env", &format!("{base}/tools/echo"), &env).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"], "from python");
    assert_eq!(up.hits(), 1);
    // The fault applies inside the intercepted TLS.
    let v = python("env", &format!("{base}/v1/limited"), &env).await;
    assert_eq!(
        (v["status"].as_u64(), v["body"].as_str()),
        (Some(429), Some("{\"error\":\"rate limited\"}")),
        "{v}"
    );
    assert_eq!(up.hits(), 1);

    // Trust passed explicitly (`verify=`).
    let env = [("SHAKEDOWN_PROXY", proxy.clone()), ("SHAKEDOWN_CA", ca)];
    let v = python("verify", &format!("{base}/tools/echo"), &env).await;
    assert_eq!(
        (v["ok"].as_bool(), v["status"].as_u64()),
        (Some(true), Some(200)),
        "{v}"
    );

    // Without the CA the client refuses the proxy's certificate.
    let v = python(
        "env",
        &format!("{base}/tools/echo"),
        &[("HTTPS_PROXY", proxy)],
    )
    .await;
    assert_eq!(v["ok"], false, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("CERTIFICATE_VERIFY_FAILED"), "{v}");
    assert_eq!(up.hits(), 2);
    p.handle.shutdown().await;
}
