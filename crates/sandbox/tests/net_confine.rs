//! Landlock's network rules on a real agent: through the `shakedown-confine` launcher a
//! confined agent connects over TCP only to the ports it was given (the run's proxies), every
//! other loopback port and every bind fails with `EACCES`; `--no-net-sandbox` leaves TCP open.
//! Also the read denial that hides Shakedown's own data (the admin password file), and the
//! signal scope that keeps the agent from killing processes outside its sandbox.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use shakedown_sandbox::{AgentProcess, AgentSpec, Launcher, Workdir};

fn spec(code: &str, dir: &Workdir) -> AgentSpec {
    let mut s = AgentSpec::new(
        shell_words::join(["python3", "-B", "-c", code]),
        dir,
        Duration::from_secs(20),
    );
    s.launcher = Launcher {
        program: PathBuf::from(env!("CARGO_BIN_EXE_shakedown-confine")),
        args: Vec::new(),
    };
    s
}

/// The agent: connect to each port and say what happened, then try to bind a port.
const PROBE: &str = r#"
import errno, socket, sys
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"hello")
        print(port, "connected")
    except OSError as e:
        print(port, errno.errorcode.get(e.errno, e.errno))
    s.close()
b = socket.socket()
try:
    b.bind(("127.0.0.1", 0))
    b.listen()
    print("bind ok")
except OSError as e:
    print("bind", errno.errorcode.get(e.errno, e.errno))
"#;

fn probe(code_args: &[u16]) -> String {
    let args: Vec<String> = code_args.iter().map(u16::to_string).collect();
    format!("import sys; sys.argv[1:] = {args:?}\n{PROBE}")
}

/// What the listener's first queued connection sent, or `None` when nothing connected. Called
/// after the agent has exited: a connection it made waits in the backlog, its bytes and EOF
/// in the socket.
fn received(listener: &TcpListener) -> Option<String> {
    listener.set_nonblocking(true).unwrap();
    let (mut s, _) = listener.accept().ok()?;
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    Some(buf)
}

#[tokio::test]
async fn a_confined_agent_reaches_only_its_proxy_ports_and_binds_nothing() {
    let base = tempfile::tempdir().unwrap();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    // `proxy` stands for the run's SQL proxy; `server` for the database server behind it.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pp, sp) = (
        proxy.local_addr().unwrap().port(),
        server.local_addr().unwrap().port(),
    );
    let mut s = spec(&probe(&[pp, sp]), &dir);
    s.connect_tcp = Some(vec![pp]);
    let out = AgentProcess::spawn(s).unwrap().wait().await.unwrap();
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(
        out.stdout,
        format!("{pp} connected\n{sp} EACCES\nbind EACCES\n"),
        "{out:?}"
    );
    assert_eq!(received(&proxy).as_deref(), Some("hello"));
    assert_eq!(received(&server), None, "the server saw a connection");
}

#[tokio::test]
async fn with_no_net_sandbox_tcp_is_open_and_files_stay_confined() {
    let base = tempfile::tempdir().unwrap();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let sp = server.local_addr().unwrap().port();
    let escaped = base.path().join("escaped.txt");
    let code = format!(
        "{}\ntry:\n    open({:?}, 'w')\n    print('WROTE')\nexcept OSError as e:\n    print('write', errno.errorcode[e.errno])\n",
        probe(&[sp]),
        escaped.to_str().unwrap()
    );
    let mut s = spec(&code, &dir);
    s.connect_tcp = None;
    let out = AgentProcess::spawn(s).unwrap().wait().await.unwrap();
    assert_eq!(
        out.stdout,
        format!("{sp} connected\nbind ok\nwrite EACCES\n"),
        "{out:?}"
    );
    assert_eq!(received(&server).as_deref(), Some("hello"));
    assert!(!escaped.exists());
}

#[tokio::test]
async fn shakedowns_data_is_not_readable_by_the_agent() {
    // A data directory like Shakedown's: the cluster's admin password file, the run's
    // working directory inside it (still fully usable) and a readable file beside it all.
    let data = tempfile::tempdir().unwrap();
    let pg = data.path().join("pg");
    std::fs::create_dir_all(pg.join("data")).unwrap();
    std::fs::write(pg.join("admin.pw"), "s3cret").unwrap();
    std::fs::write(pg.join("data/pg_hba.conf"), "local all all reject").unwrap();
    let runs = data.path().join("runs/run-1");
    std::fs::create_dir_all(&runs).unwrap();
    let dir = Workdir::create(
        &runs,
        &[shakedown_sandbox::FileSpec::text("in.txt", "task")],
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("ok.txt"), "fine").unwrap();
    // Names stay listable (Landlock's list right on the directories on the way is inherited
    // by everything beneath them); contents are not readable.
    let code = format!(
        r#"
import errno, os
for p in [{pw:?}, {hba:?}, {ok:?}, "in.txt"]:
    try:
        print(open(p).read())
    except OSError as e:
        print(errno.errorcode[e.errno])
try:
    os.listdir({data:?})
    print("LISTED")
except OSError as e:
    print(errno.errorcode[e.errno])
open("out.txt", "w").write("done")
"#,
        pw = pg.join("admin.pw").to_str().unwrap(),
        hba = pg.join("data/pg_hba.conf").to_str().unwrap(),
        ok = elsewhere.path().join("ok.txt").to_str().unwrap(),
        data = data.path().to_str().unwrap(),
    );
    let mut s = spec(&code, &dir);
    s.deny_read = vec![data.path().to_path_buf()];
    let out = AgentProcess::spawn(s).unwrap().wait().await.unwrap();
    assert_eq!(
        out.stdout, "EACCES\nEACCES\nfine\ntask\nLISTED\n",
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "done"
    );
}

#[tokio::test]
async fn a_confined_agent_cannot_signal_processes_outside_its_sandbox() {
    if !shakedown_sandbox::confine::scopes_supported() {
        // Kernels before 6.12 have no signal scope; nothing to check here.
        eprintln!("skipped: this kernel has no Landlock scopes (ABI 6)");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    // Stands for the database server: a process of ours, outside the agent's sandbox.
    let mut outsider = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let code = format!(
        r#"
import errno, os, signal, subprocess
try:
    os.kill({pid}, signal.SIGKILL)
    print("outsider KILLED")
except OSError as e:
    print("outsider", errno.errorcode[e.errno])
child = subprocess.Popen(["sleep", "30"])
os.kill(child.pid, signal.SIGKILL)
print("own child", child.wait())
"#,
        pid = outsider.id()
    );
    let out = AgentProcess::spawn(spec(&code, &dir))
        .unwrap()
        .wait()
        .await
        .unwrap();
    let alive = outsider.try_wait().unwrap().is_none();
    let _ = outsider.kill();
    let _ = outsider.wait();
    assert_eq!(out.stdout, "outsider EPERM\nown child -9\n", "{out:?}");
    assert!(alive, "the agent killed a process outside its sandbox");
}
