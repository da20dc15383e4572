//! Errors the proxy answers by itself, per provider: exact status, headers and body, as the
//! official SDKs read them (`x-should-retry`, `retry-after(-ms)`, error `type` / `code`).

mod apply_support;

use std::time::Duration;

use apply_support::{call, fired};
use http::StatusCode;
use serde_json::{Value, json};
use shakedown_faults::{ApiKind, CallPlan, Fault, RateLimitKind, Step, plan, plan_for_request};

fn answer(plan: &CallPlan) -> (StatusCode, http::HeaderMap, Value) {
    let s = plan.respond.as_ref().expect("plan answers by itself");
    assert!(plan.shaper.is_none());
    let [Step::Data(body)] = s.body.as_slice() else {
        panic!("one data step: {:?}", s.body)
    };
    assert_eq!(
        s.headers["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    assert_eq!(s.headers["content-type"], "application/json");
    (
        s.status,
        s.headers.clone(),
        serde_json::from_slice(body).unwrap(),
    )
}

fn h<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn retryable(ms: u64) -> Fault {
    Fault::RateLimit(RateLimitKind::Retryable {
        retry_after: Duration::from_millis(ms),
    })
}

#[test]
fn openai_retryable_429_vs_quota_429() {
    for api in [ApiKind::OpenAiChat, ApiKind::OpenAiResponses] {
        let p = plan(&call(api, false), &[fired(retryable(1500), 7)]);
        assert_eq!(p.pre_delay, Duration::ZERO);
        let (status, hd, body) = answer(&p);
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h(&hd, "retry-after"), Some("2"));
        assert_eq!(h(&hd, "retry-after-ms"), Some("1500"));
        assert_eq!(h(&hd, "x-should-retry"), Some("true"));
        assert_eq!(h(&hd, "x-ratelimit-limit-requests"), Some("500"));
        assert_eq!(h(&hd, "x-ratelimit-remaining-requests"), Some("0"));
        assert_eq!(h(&hd, "x-ratelimit-reset-requests"), Some("1.5s"));
        assert_eq!(h(&hd, "x-ratelimit-limit-tokens"), Some("30000"));
        assert_eq!(h(&hd, "x-ratelimit-remaining-tokens"), Some("15000"));
        assert_eq!(h(&hd, "x-ratelimit-reset-tokens"), Some("6m0s"));
        let id = h(&hd, "x-request-id").unwrap();
        assert!(id.starts_with("req_") && id.len() == 36, "{id}");
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert_eq!(body["error"]["param"], Value::Null);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("try again in 2s")
        );
        assert_eq!(body.as_object().unwrap().len(), 1);

        let (status, hd, body) = answer(&plan(
            &call(api, false),
            &[fired(Fault::RateLimit(RateLimitKind::Quota), 7)],
        ));
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h(&hd, "x-should-retry"), Some("false"));
        assert_eq!(h(&hd, "retry-after"), None);
        assert_eq!(h(&hd, "retry-after-ms"), None);
        assert_eq!(
            body["error"],
            json!({"message": body["error"]["message"], "type": "insufficient_quota",
                   "param": null, "code": "insufficient_quota"})
        );
    }
}

#[test]
fn request_ids_follow_the_seed() {
    let id = |seed| {
        let p = plan(
            &call(ApiKind::AnthropicMessages, false),
            &[fired(Fault::Overloaded, seed)],
        );
        let (_, hd, body) = answer(&p);
        assert_eq!(body["request_id"], h(&hd, "request-id").unwrap());
        h(&hd, "request-id").unwrap().to_string()
    };
    assert_eq!(id(1), id(1));
    assert_ne!(id(1), id(2));
    assert!(id(1).starts_with("req_011C") && id(1).len() == 28);
}

#[test]
fn anthropic_shapes() {
    let c = call(ApiKind::AnthropicMessages, true);
    let cases: Vec<(Fault, u16, &str, Option<&str>)> = vec![
        (retryable(2000), 429, "rate_limit_error", Some("true")),
        (
            Fault::RateLimit(RateLimitKind::Quota),
            429,
            "rate_limit_error",
            Some("false"),
        ),
        (Fault::Overloaded, 529, "overloaded_error", Some("true")),
        (
            Fault::Error {
                status: 500,
                message: "boom".into(),
            },
            500,
            "api_error",
            None,
        ),
        (
            Fault::Error {
                status: 529,
                message: "busy".into(),
            },
            529,
            "overloaded_error",
            None,
        ),
        (
            Fault::Error {
                status: 401,
                message: "key".into(),
            },
            401,
            "authentication_error",
            None,
        ),
        (
            Fault::Error {
                status: 400,
                message: "bad".into(),
            },
            400,
            "invalid_request_error",
            None,
        ),
        (
            Fault::Timeout {
                delay: Duration::from_millis(30),
            },
            504,
            "timeout_error",
            None,
        ),
    ];
    for (fault, status, ty, should_retry) in cases {
        let p = plan(&c, &[fired(fault.clone(), 3)]);
        let (st, hd, body) = answer(&p);
        assert_eq!(st.as_u16(), status, "{fault:?}");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], ty, "{fault:?}");
        assert!(body["error"]["message"].is_string());
        assert_eq!(h(&hd, "x-should-retry"), should_retry, "{fault:?}");
        assert_eq!(body.as_object().unwrap().len(), 3);
    }
    let (_, hd, body) = answer(&plan(&c, &[fired(retryable(2000), 3)]));
    assert_eq!(h(&hd, "retry-after"), Some("2"));
    assert_eq!(h(&hd, "anthropic-ratelimit-requests-limit"), Some("50"));
    assert_eq!(h(&hd, "anthropic-ratelimit-requests-remaining"), Some("0"));
    let reset = h(&hd, "anthropic-ratelimit-requests-reset").unwrap();
    assert!(
        time::OffsetDateTime::parse(reset, &time::format_description::well_known::Rfc3339).is_ok()
    );
    for k in ["tokens", "input-tokens", "output-tokens"] {
        assert!(hd.contains_key(format!("anthropic-ratelimit-{k}-limit").as_str()));
    }
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    let (_, hd, body) = answer(&plan(
        &c,
        &[fired(
            Fault::Error {
                status: 500,
                message: "boom".into(),
            },
            3,
        )],
    ));
    assert_eq!(body["error"]["message"], "boom");
    assert!(hd.contains_key("request-id"));
}

#[test]
fn openai_overload_timeout_and_configured_errors() {
    let c = call(ApiKind::OpenAiChat, false);
    let (st, hd, body) = answer(&plan(&c, &[fired(Fault::Overloaded, 1)]));
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h(&hd, "x-should-retry"), Some("true"));
    assert_eq!(body["error"]["type"], "server_error");

    let p = plan(
        &c,
        &[fired(
            Fault::Timeout {
                delay: Duration::from_millis(250),
            },
            1,
        )],
    );
    assert_eq!(p.pre_delay, Duration::from_millis(250));
    let (st, _, body) = answer(&p);
    assert_eq!(st, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["error"]["code"], "timeout");

    for (status, ty) in [
        (400, "invalid_request_error"),
        (404, "invalid_request_error"),
        (500, "server_error"),
        (502, "server_error"),
    ] {
        let (st, _, body) = answer(&plan(
            &c,
            &[fired(
                Fault::Error {
                    status,
                    message: "m".into(),
                },
                1,
            )],
        ));
        assert_eq!(st.as_u16(), status);
        assert_eq!(body["error"]["type"], ty);
        assert_eq!(body["error"]["message"], "m");
    }
}

#[test]
fn tool_errors_plain_and_json_rpc() {
    let c = call(ApiKind::Tool, false);
    let err = Fault::Error {
        status: 503,
        message: "search is down".into(),
    };
    let (st, hd, body) = answer(&plan(&c, &[fired(err.clone(), 9)]));
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"error": "search is down", "status": 503}));
    assert!(h(&hd, "x-request-id").unwrap().starts_with("tool-"));

    let rpc = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search"}}"#;
    let (st, _, body) = answer(&plan_for_request(&c, &[fired(err, 9)], rpc));
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"jsonrpc":"2.0","id":42,"error":{"code":-32000,"message":"search is down",
               "data":{"http_status":503}}})
    );

    let (st, hd, _) = answer(&plan(&c, &[fired(retryable(3000), 9)]));
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h(&hd, "retry-after"), Some("3"));
    let (st, _, body) = answer(&plan(
        &c,
        &[fired(
            Fault::Timeout {
                delay: Duration::ZERO,
            },
            9,
        )],
    ));
    assert_eq!(st, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["status"], 504);
}

#[test]
fn delays_add_and_the_first_short_circuit_wins() {
    let c = call(ApiKind::OpenAiChat, false);
    let p = plan(
        &c,
        &[
            fired(
                Fault::Slow {
                    delay: Duration::from_millis(100),
                },
                1,
            ),
            fired(Fault::Empty, 1),
            fired(Fault::Overloaded, 1),
            fired(
                Fault::Timeout {
                    delay: Duration::from_millis(50),
                },
                1,
            ),
            fired(retryable(1000), 1),
        ],
    );
    assert_eq!(p.pre_delay, Duration::from_millis(150));
    let (st, _, _) = answer(&p);
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);

    let p = plan(
        &c,
        &[fired(
            Fault::Slow {
                delay: Duration::from_millis(40),
            },
            1,
        )],
    );
    assert_eq!(p.pre_delay, Duration::from_millis(40));
    assert!(p.respond.is_none() && p.shaper.is_none());
    let p = plan(&c, &[]);
    assert!(p.respond.is_none() && p.shaper.is_none() && p.pre_delay.is_zero());
}
