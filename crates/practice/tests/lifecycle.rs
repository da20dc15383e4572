//! Starting, stopping and describing the practice servers: shutdown really stops them, bad
//! configurations are refused, and the demo system file is one the loader accepts as is.

#[path = "support/client.rs"]
mod client;

use std::time::Duration;

use shakedown_core::system::load_system;
use shakedown_core::{ComponentKind, Pattern};
use shakedown_practice::{Flavor, PracticeConfig, demo_system_file, start};
use tokio::net::TcpStream;

#[tokio::test]
async fn shutdown_stops_accepting_and_ends_open_connections() -> anyhow::Result<()> {
    for config in [PracticeConfig::guarded("t"), PracticeConfig::weak()] {
        let flavor = config.flavor;
        let s = start(config, "127.0.0.1:0".parse()?).await?;
        let addr = s.addr();
        assert_eq!(s.url(), format!("http://{addr}"));
        assert_eq!(s.flavor(), flavor);
        assert_eq!(client::get(addr, "/health").await?.status, 200);
        assert!(s.requests_seen() >= 1);
        // An idle connection must not hold shutdown up for long.
        let mut idle = TcpStream::connect(addr).await?;
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(3), s.shutdown()).await?;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "{flavor}: still accepting after shutdown"
        );
        assert!(
            client::wait_closed(&mut idle, Duration::from_secs(1))
                .await
                .is_some()
        );
    }
    Ok(())
}

#[tokio::test]
async fn impossible_configurations_are_refused() {
    let mut config = PracticeConfig::guarded("t");
    config.max_concurrency = 0;
    let err = start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_concurrency"), "{err}");
}

#[tokio::test]
async fn the_demo_system_file_describes_both_servers() -> anyhow::Result<()> {
    let guarded = start(PracticeConfig::guarded("t"), "127.0.0.1:0".parse()?).await?;
    let weak = start(PracticeConfig::weak(), "127.0.0.1:0".parse()?).await?;
    let text = demo_system_file(&guarded.url(), &weak.url(), "SHAKEDOWN_DEMO_TOKEN");
    let (spec, problems) = match load_system(&text) {
        Ok(ok) => ok,
        Err(p) => panic!("demo system file refused:\n{p:#?}\n{text}"),
    };
    assert!(!problems.has_errors());
    assert_eq!(problems.warnings().count(), 0, "{problems:#?}");
    assert_eq!(spec.environment.as_str(), "test");
    assert_eq!(spec.components.len(), 2);

    let claims = PracticeConfig::guarded("t");
    for (c, url) in spec.components.iter().zip([guarded.url(), weak.url()]) {
        assert_eq!(c.kind, ComponentKind::ApiEndpoint);
        assert_eq!(c.target.as_deref(), Some(url.as_str()));
        assert_eq!(c.health_path(), "/health");
        assert_eq!(c.auth.as_ref().unwrap().token_env, "SHAKEDOWN_DEMO_TOKEN");
        assert_eq!(c.auth.as_ref().unwrap().header_value("t"), "Bearer t");
        let g = &c.guardrails;
        let rate = g.rate_limit.unwrap();
        assert_eq!(
            (rate.requests, rate.per.as_duration()),
            (claims.rate_limit, claims.rate_window)
        );
        assert!(g.auth_required());
        assert_eq!(g.max_payload().bytes(), claims.max_body as u64);
        assert_eq!(g.request_timeout().as_duration(), claims.header_timeout);
        assert_eq!(g.concurrency() as usize, claims.max_concurrency);
        assert_eq!(c.requested_patterns().len(), 11);
        assert!(c.requested_patterns().contains(&Pattern::Slowloris));
        // name, id, q and the POST body carry {input}; /admin/stats does not.
        assert_eq!(c.input_endpoints().count(), 4);
        assert_eq!(c.endpoints.len(), 5);
        let post = c
            .endpoints
            .iter()
            .find(|e| e.method.as_str() == "POST")
            .unwrap();
        let body = post.body.as_ref().unwrap();
        assert_eq!(
            (body["name"].as_str(), body["email"].as_str()),
            (Some("{input}"), Some("{input}@example.com"))
        );
        assert_eq!(body["age"], 30);
        // The benign input attacks use for their baseline makes a valid user.
        let benign = serde_json::to_string(body)?.replace("{input}", "shakedown");
        for server in [&guarded, &weak] {
            let r = client::post(
                server.addr(),
                "/users",
                "t",
                Some("application/json"),
                benign.clone(),
            )
            .await?;
            assert_eq!(r.status, 201, "{benign}: {}", r.body);
        }
    }
    assert_eq!(spec.components[0].id, "practice-guarded");
    assert_eq!(spec.components[1].id, "practice-weak");

    // Every endpoint of the file answers a legitimate request on both servers.
    for (server, flavor) in [(&guarded, Flavor::Guarded), (&weak, Flavor::Weak)] {
        for path in [
            "/users?name=alice",
            "/users/1",
            "/search?q=al",
            "/admin/stats",
        ] {
            let r = client::get_auth(server.addr(), path, "t").await?;
            assert_eq!(r.status, 200, "{flavor} {path}: {}", r.body);
        }
        let created = client::post(
            server.addr(),
            "/users",
            "t",
            Some("application/json"),
            r#"{"name":"newbie","email":"newbie@example.com","age":30}"#,
        )
        .await?;
        assert_eq!(created.status, 201, "{flavor}: {}", created.body);
    }
    guarded.shutdown().await;
    weak.shutdown().await;
    Ok(())
}
