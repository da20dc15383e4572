//! A real nginx started per test on a free loopback port, from a config template, killed on
//! drop. The test setup (`scripts/test`) installs nginx; a missing binary fails loudly.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
}

/// Where nginx lives (PATH or Debian's /usr/sbin).
pub fn nginx_binary() -> PathBuf {
    for candidate in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v nginx"]).output()
        && out.status.success()
    {
        return String::from_utf8_lossy(&out.stdout).trim().into();
    }
    panic!(
        "nginx is not installed: run scripts/test (it installs nginx) or `apt-get install nginx`"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Nginx {
    /// Starts nginx with `server_block` (the contents of one `server { }`, without `listen`)
    /// and `http_extra` (directives at `http` level, e.g. `limit_req_zone`).
    pub fn start(http_extra: &str, server_block: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let prefix = dir.path().display().to_string();
        let user = if running_as_root() { "user root;" } else { "" };
        let conf = format!(
            r#"{user}
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
# One process: killing it on drop leaves no orphaned worker behind.
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/json;
    {http_extra}
    server {{
        listen 127.0.0.1:{port};
        {server_block}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut nginx = Nginx { addr, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log =
                    std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}) before listening: {log}");
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {addr} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lines of the access log so far.
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
