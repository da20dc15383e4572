//! The official `openai` and `anthropic` Python SDKs against the mock (installed by
//! scripts/test): chat (plain, streamed, tool call), responses (plain, streamed, function call)
//! and messages (plain, streamed, tool_use) all parse and match the rules.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Mock;

#[tokio::test]
async fn official_python_sdks_parse_every_api() {
    let mock = Mock::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/sdk_client.py");
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(format!("http://{}", mock.addr))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (scripts/test installs the openai and anthropic SDKs)");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the SDK script finishes in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for case in [
        "openai chat plain",
        "openai chat stream",
        "openai chat tool call",
        "openai responses plain",
        "openai responses stream",
        "openai responses function call",
        "anthropic messages plain",
        "anthropic messages stream",
        "anthropic messages tool_use",
        "models",
    ] {
        assert!(
            stdout.contains(&format!("ok {case}\n")),
            "missing `{case}`:\n{stdout}"
        );
    }
    mock.shutdown().await;
}
