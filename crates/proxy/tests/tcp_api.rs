//! The TCP fault proxy's Toxiproxy-compatible admin API over real HTTP: proxy and toxic CRUD,
//! populate, reset, version, and the error answers (400 JSON, 404, 409) that change nothing.

#[path = "tcp_support/support.rs"]
mod tcp_support;

use anyhow::Result;
use serde_json::json;
use tcp_support::{Api, echo_server};

#[tokio::test]
async fn proxy_crud_with_toxiproxy_shapes_and_codes() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let (status, v) = api.call("GET", "/version", None).await?;
    assert_eq!(status, 200);
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");

    let body =
        json!({"name": "a", "listen": "127.0.0.1:0", "upstream": echo.to_string()}).to_string();
    let (status, v) = api.call("POST", "/proxies", Some(&body)).await?;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["name"], "a");
    assert_eq!(v["enabled"], true, "enabled defaults to true");
    assert_eq!(v["upstream"], echo.to_string());
    assert_eq!(v["toxics"], json!([]));
    assert!(
        !v["listen"].as_str().unwrap_or("").ends_with(":0"),
        "the bound port is shown: {v}"
    );

    let (status, v) = api.call("POST", "/proxies", Some(&body)).await?;
    assert_eq!((status, v["status"].clone()), (409, json!(409)), "{v}");
    assert_eq!(v["error"], "proxy already exists");

    let (status, v) = api.call("GET", "/proxies", None).await?;
    assert_eq!(status, 200);
    assert_eq!(v["a"]["name"], "a", "GET /proxies is a map by name: {v}");

    let (status, v) = api.call("GET", "/proxies/nope", None).await?;
    assert_eq!(
        (status, v["error"].as_str()),
        (404, Some("proxy not found"))
    );

    let (status, v) = api.call("DELETE", "/proxies/a", None).await?;
    assert_eq!((status, v), (204, serde_json::Value::Null));
    let (status, _) = api.call("DELETE", "/proxies/a", None).await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn invalid_bodies_are_400_json_and_change_nothing() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    api.proxy("p", echo).await?;
    let (_, before) = api.call("GET", "/proxies", None).await?;

    let cases: &[(&str, &str, &str)] = &[
        ("POST", "/proxies", "{not json"),
        ("POST", "/proxies", r#"{"name": "x"}"#),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "upstream": "10.1.2.3:80"}"#,
        ),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "upstream": "example.com:80"}"#,
        ),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "listen": "0.0.0.0:0", "upstream": "127.0.0.1:1"}"#,
        ),
        ("POST", "/proxies/p", r#"{"upstream": "192.168.1.1:5432"}"#),
        ("POST", "/proxies/p", r#"{"enabled": "yes"}"#),
        ("POST", "/proxies/p/toxics", r#"{"type": "nonsense"}"#),
        (
            "POST",
            "/proxies/p/toxics",
            r#"{"type": "latency", "stream": "sideways"}"#,
        ),
        (
            "POST",
            "/proxies/p/toxics",
            r#"{"type": "latency", "toxicity": 2}"#,
        ),
        (
            "POST",
            "/proxies/p/toxics",
            r#"{"type": "latency", "attributes": {"latency": -5}}"#,
        ),
        (
            "POST",
            "/proxies/p/toxics",
            r#"{"type": "slicer", "attributes": {"average_size": 0}}"#,
        ),
        (
            "POST",
            "/populate",
            r#"[{"name": "q", "upstream": "127.0.0.1:1"}, {"name": "r", "upstream": "8.8.8.8:53"}]"#,
        ),
        ("POST", "/populate", r#"{"x": 1}"#),
    ];
    for (method, path, body) in cases {
        let (status, v) = api.call(method, path, Some(body)).await?;
        assert_eq!(status, 400, "{method} {path} {body}: {v}");
        assert_eq!(v["status"], 400, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let (_, after) = api.call("GET", "/proxies", None).await?;
    assert_eq!(before, after, "a refused request changed nothing");
    Ok(())
}

#[tokio::test]
async fn toxic_crud_populate_and_reset() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    api.proxy("p", echo).await?;

    let v = api
        .toxic(
            "p",
            json!({"type": "latency", "attributes": {"latency": 100, "jitter": 10}}),
        )
        .await?;
    assert_eq!(
        v,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
               "toxicity": 1.0, "attributes": {"latency": 100, "jitter": 10}})
    );
    let (status, v) = api
        .call("POST", "/proxies/p/toxics", Some(r#"{"type": "latency"}"#))
        .await?;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("toxic already exists"))
    );
    let v = api
        .toxic("p", json!({"name": "cut", "type": "limit_data", "stream": "upstream", "toxicity": 0.5, "attributes": {"bytes": 9}}))
        .await?;
    assert_eq!(v["stream"], "upstream");

    let (status, v) = api.call("GET", "/proxies/p/toxics", None).await?;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    let (status, v) = api.call("GET", "/proxies/p/toxics/cut", None).await?;
    assert_eq!((status, v["attributes"]["bytes"].clone()), (200, json!(9)));
    let (status, _) = api.call("GET", "/proxies/p/toxics/none", None).await?;
    assert_eq!(status, 404);

    // Update keeps what is left out.
    let (status, v) = api
        .call(
            "POST",
            "/proxies/p/toxics/latency_downstream",
            Some(r#"{"toxicity": 0.25}"#),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(v["toxicity"], 0.25);
    assert_eq!(v["attributes"]["latency"], 100);
    let (status, _) = api
        .call(
            "POST",
            "/proxies/p/toxics/latency_downstream",
            Some(r#"{"type": "bandwidth"}"#),
        )
        .await?;
    assert_eq!(status, 400);

    let (_, shown) = api.call("GET", "/proxies/p", None).await?;
    assert_eq!(shown["toxics"].as_array().map(Vec::len), Some(2));

    // Populate: idempotent, the existing proxy keeps its listener.
    let listen = shown["listen"].clone();
    let body = json!([
        {"name": "p", "listen": listen, "upstream": echo.to_string()},
        {"name": "q", "listen": "127.0.0.1:0", "upstream": echo.to_string(), "enabled": false},
    ])
    .to_string();
    for _ in 0..2 {
        let (status, v) = api.call("POST", "/populate", Some(&body)).await?;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["proxies"].as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v["proxies"][0]["listen"], listen);
        assert_eq!(v["proxies"][1]["enabled"], false);
    }

    // Reset: every proxy enabled, every toxic gone.
    let (status, _) = api.call("POST", "/reset", None).await?;
    assert_eq!(status, 204);
    let (_, all) = api.call("GET", "/proxies", None).await?;
    for name in ["p", "q"] {
        assert_eq!(all[name]["enabled"], true, "{all}");
        assert_eq!(all[name]["toxics"], json!([]), "{all}");
    }
    let (status, _) = api.call("DELETE", "/proxies/p/toxics/cut", None).await?;
    assert_eq!(status, 404);
    Ok(())
}
