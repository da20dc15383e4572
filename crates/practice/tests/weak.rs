//! The weak practice API really is weak — injectable, reflective, open and unlimited — and
//! still stays up after every abuse, checked with real requests on 127.0.0.1:0.

#[path = "support/client.rs"]
mod client;

use std::time::Duration;

use client::{enc, get, post, raw, raw_get, trickle};
use shakedown_practice::{PracticeConfig, PracticeServer, start};

async fn server() -> PracticeServer {
    start(PracticeConfig::weak(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn rows(r: &client::Resp) -> Vec<serde_json::Value> {
    r.json()
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a list: {}", r.body))
}

#[tokio::test]
async fn sql_injection_really_works() -> anyhow::Result<()> {
    let s = server().await;
    let addr = s.addr();
    assert_eq!(rows(&get(addr, "/users?name=alice").await?).len(), 1);

    // Boolean-based: a tautology returns every row, and a true/false pair differs.
    let all = get(addr, &format!("/users?name={}", enc("' OR '1'='1"))).await?;
    assert_eq!((all.status, rows(&all).len()), (200, 4), "{}", all.body);
    let t = get(addr, &format!("/users?name={}", enc("alice' AND '1'='1"))).await?;
    let f = get(addr, &format!("/users?name={}", enc("alice' AND '1'='2"))).await?;
    assert_eq!((rows(&t).len(), rows(&f).len()), (1, 0));

    // Error-based: a stray quote is a 500 carrying SQLite's message and the query.
    let broken = get(addr, &format!("/users?name={}", enc("'"))).await?;
    assert_eq!(broken.status, 500);
    let err = broken.json();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("unrecognized token"),
        "{err}"
    );
    assert!(
        err["query"].as_str().unwrap().contains("WHERE name = '''"),
        "{err}"
    );
    let syntax = get(addr, &format!("/users?name={}", enc("' AND )--"))).await?;
    assert!(
        syntax.json()["error"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{}",
        syntax.body
    );
    // Time-based probes for other databases fail loudly on SQLite, which is evidence too.
    let sleep = get(addr, &format!("/users?name={}", enc("' OR sleep(3)--"))).await?;
    assert!(
        sleep.json()["error"]
            .as_str()
            .unwrap()
            .contains("no such function"),
        "{}",
        sleep.body
    );

    // UNION: the secrets table leaks.
    let union = get(
        addr,
        &format!(
            "/users?name={}",
            enc("' UNION SELECT id, name, value, 0 FROM secrets--")
        ),
    )
    .await?;
    assert!(union.body.contains("practice-hunter2"), "{}", union.body);

    // The path and the POST body are injectable too.
    let everyone = get(addr, "/users/0%20OR%201=1").await?;
    assert_eq!(everyone.status, 200, "{}", everyone.body);
    assert_eq!(get(addr, "/users/1%20AND%201=2").await?.status, 404);
    let bad_post = post(
        addr,
        "/users",
        "",
        None,
        r#"{"name":"o'brien","email":"o@x.io","age":1}"#,
    )
    .await?;
    assert_eq!(bad_post.status, 500);
    assert!(
        bad_post.json()["error"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{}",
        bad_post.body
    );
    let search = get(addr, &format!("/search?q={}", enc("'"))).await?;
    assert_eq!(search.status, 500);
    assert!(search.body.contains("database error"), "{}", search.body);

    // Stacked statements are refused by the driver, so the demo data survives.
    let drop = get(
        addr,
        &format!("/users?name={}", enc("'; DROP TABLE users; --")),
    )
    .await?;
    assert_eq!(drop.status, 500);
    assert_eq!(rows(&get(addr, "/users").await?).len(), 4);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn reflected_input_is_raw_html() -> anyhow::Result<()> {
    let s = server().await;
    let canary = "<script>alert(\"shakedown-9c2e\")</script>";
    let r = get(s.addr(), &format!("/search?q={}", enc(canary))).await?;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.body.contains(&format!("Results for {canary}")),
        "{}",
        r.body
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn no_auth_no_rate_limit_no_body_limit() -> anyhow::Result<()> {
    let s = server().await;
    let addr = s.addr();
    let claimed = PracticeConfig::weak();
    // Anyone gets the admin stats, any header or none.
    let stats = get(addr, "/admin/stats").await?;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.json()["flavor"], "weak");
    // Far more than the claimed rate, all served.
    for i in 0..(claimed.rate_limit + claimed.rate_limit / 2) {
        assert_eq!(
            get(addr, "/users?name=bob").await?.status,
            200,
            "request {i}"
        );
    }
    // A body twice the claimed limit is read in full (then fails as JSON: 500, not 413).
    let big = vec![b'x'; claimed.max_body * 2];
    let r = post(addr, "/users", "", Some("application/json"), big).await?;
    assert_eq!(r.status, 500, "{}", r.body);
    // A declared oversize is waited for, not refused up front.
    let head = format!("POST /users HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 15000000\r\n\r\n");
    let waited = tokio::time::timeout(Duration::from_millis(500), raw(addr, head.as_bytes())).await;
    assert!(
        waited.is_err(),
        "the weak API answered before reading the body: {waited:?}"
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_trickling_client_is_kept_waiting_for_ever() -> anyhow::Result<()> {
    let s = server().await;
    let claimed = PracticeConfig::weak().header_timeout;
    let limit = claimed + Duration::from_millis(1500);
    let closed = trickle(s.addr(), limit).await?;
    assert_eq!(closed, None, "the weak API has no header deadline");
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn it_survives_every_abuse() -> anyhow::Result<()> {
    let s = server().await;
    let addr = s.addr();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        b"\xff\xfe\x00".to_vec(),
        br#"{"name":"a\u0000b","email":null,"age":"x"}"#.to_vec(),
        br#"{"__proto__":{"admin":true}}"#.to_vec(),
        br#"{"name":"a","email":"b","age":1e999}"#.to_vec(),
    ];
    for body in bodies {
        let r = post(addr, "/users", "", Some("application/json"), body).await?;
        assert!(r.status >= 400, "{}", r.body);
    }
    for payload in [
        "' UNION SELECT randomblob(1000000000), 1, 1, 1--",
        "' UNION SELECT * FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n) SELECT x, x, x, x FROM n)--",
        "%00\u{0}",
    ] {
        let r = get(addr, &format!("/users?name={}", enc(payload))).await?;
        assert!(r.status == 500 || r.status == 200, "{payload}: {}", r.body);
    }
    let odd = raw_get(addr, "/users/%00", "").await?;
    assert!(odd.status >= 400, "{}", odd.body);
    let health = get(addr, "/health").await?;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    s.shutdown().await;
    Ok(())
}
