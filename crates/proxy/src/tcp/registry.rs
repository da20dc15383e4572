//! [`TcpProxyServer`]: the set of proxies, each with its listener task and its live toxic set.
//! Changes are validated completely before anything is touched, so a refused request changes
//! nothing. Listeners and connections stop through `CancellationToken`s and are tracked by a
//! `TaskTracker`. While halted (the guardian's halt lever) every toxic is gone and no fault can
//! be added: adding or changing a toxic, or disabling a proxy, answers 409 naming the halt.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::audit::{Audit, Change};
use super::link;
use super::model::{ApiError, ProxySpec, ToxicSpec};

/// How long `accept` errors (e.g. out of file descriptors) pause a listener.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Server-wide settings.
#[derive(Debug, Clone, Default)]
pub struct TcpServerConfig {
    /// Accept listen and upstream addresses outside loopback (refused by default).
    pub allow_non_loopback: bool,
    /// An outside halt: cancelling it stops every proxy.
    pub halt: Option<CancellationToken>,
}

/// A proxy's toxics, swapped whole on every change; `generation` wakes waiting pipes.
#[derive(Debug)]
pub(super) struct ToxicSet {
    current: RwLock<Arc<Vec<ToxicSpec>>>,
    generation: watch::Sender<u64>,
}

impl ToxicSet {
    fn new() -> Self {
        Self {
            current: RwLock::new(Arc::new(Vec::new())),
            generation: watch::Sender::new(0),
        }
    }
    /// The toxics in force now.
    pub(super) fn snapshot(&self) -> Arc<Vec<ToxicSpec>> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
    /// A receiver that sees every change.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
    fn replace(&self, toxics: Vec<ToxicSpec>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(toxics);
        self.generation.send_modify(|g| *g += 1);
    }
}

struct Entry {
    spec: ProxySpec,
    toxics: Arc<ToxicSet>,
    running: Option<CancellationToken>,
}

/// A proxy as the API shows it: its definition plus its toxics.
#[derive(Debug, Clone)]
pub struct ProxyView {
    /// Name, listen address (the bound one while enabled), upstream, enabled.
    pub spec: ProxySpec,
    /// The toxics in force.
    pub toxics: Vec<ToxicSpec>,
}

impl ProxyView {
    /// Toxiproxy's JSON shape: `{name, listen, upstream, enabled, toxics: [...]}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.spec.name,
            "listen": self.spec.listen,
            "upstream": self.spec.upstream,
            "enabled": self.spec.enabled,
            "toxics": self.toxics.iter().map(ToxicSpec::to_json).collect::<Vec<_>>(),
        })
    }
}

/// What a halt removed.
#[derive(Debug, Clone, Default)]
pub struct Halted {
    /// Every toxic removed, with its proxy's name.
    pub toxics: Vec<(String, ToxicSpec)>,
    /// Proxies that were disabled (an outage) and are enabled again.
    pub enabled: Vec<String>,
    /// Disabled proxies that could not be enabled again (their address is taken).
    pub errors: Vec<String>,
}

/// The running TCP fault proxy: any number of named proxies. Cheap to clone.
#[derive(Clone)]
pub struct TcpProxyServer {
    inner: Arc<Inner>,
}

struct Inner {
    proxies: Mutex<BTreeMap<String, Entry>>,
    /// Why faults are refused, while halted.
    halted: RwLock<Option<String>>,
    allow_non_loopback: bool,
    /// Sees every change to the faults (see [`Audit`]).
    audit: OnceLock<Arc<dyn Audit>>,
    token: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for TcpProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpProxyServer").finish_non_exhaustive()
    }
}

impl TcpProxyServer {
    /// An empty server. Must be created inside a tokio runtime's context when proxies are
    /// added (their listeners are tasks).
    pub fn new(config: TcpServerConfig) -> Self {
        let token = config
            .halt
            .map_or_else(CancellationToken::new, |h| h.child_token());
        Self {
            inner: Arc::new(Inner {
                proxies: Mutex::new(BTreeMap::new()),
                halted: RwLock::new(None),
                allow_non_loopback: config.allow_non_loopback,
                audit: OnceLock::new(),
                token,
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// Shows every later change of the faults to `audit` (set once, before the first change);
    /// `false` when one is set already.
    pub fn set_audit(&self, audit: Arc<dyn Audit>) -> bool {
        self.inner.audit.set(audit).is_ok()
    }

    /// Shows `change` to the audit hook. A change that injects a fault and cannot be recorded
    /// is refused (503, nothing changed); any other failure is the hook's to report.
    fn record(&self, change: &Change<'_>) -> Result<(), ApiError> {
        let Some(audit) = self.inner.audit.get() else {
            return Ok(());
        };
        match audit.record(change) {
            Ok(()) => Ok(()),
            Err(e) if change.injects() => Err(ApiError {
                error: format!("the change was refused because it cannot be recorded: {e}"),
                status: 503,
            }),
            Err(_) => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every proxy, by name.
    pub fn list(&self) -> Vec<ProxyView> {
        self.lock().values().map(view).collect()
    }

    /// One proxy.
    pub fn get(&self, name: &str) -> Result<ProxyView, ApiError> {
        self.lock()
            .get(name)
            .map(view)
            .ok_or_else(ApiError::proxy_not_found)
    }

    /// Creates and (if enabled) starts a proxy; 409 if the name exists.
    pub fn create(&self, spec: ProxySpec) -> Result<ProxyView, ApiError> {
        self.check_spec(&spec)?;
        let mut proxies = self.lock();
        if proxies.contains_key(&spec.name) {
            return Err(ApiError::conflict("proxy already exists"));
        }
        let entry = self.start_entry(spec, Arc::new(ToxicSet::new()))?;
        if let Err(e) = self.record(&Change::ProxyCreated(&entry.spec)) {
            if let Some(t) = &entry.running {
                t.cancel();
            }
            return Err(e);
        }
        let v = view(&entry);
        proxies.insert(entry.spec.name.clone(), entry);
        Ok(v)
    }

    /// Applies an update body (`listen`, `upstream`, `enabled`; left-out fields keep their
    /// values). A changed address restarts the listener; `enabled: false` takes it down.
    pub fn update(&self, name: &str, body: &Value) -> Result<ProxyView, ApiError> {
        self.update_with(name, body, true)
    }

    /// [`Self::update`], shown to the audit hook or not (a halt's and a reset's own
    /// re-enabling are recorded as the halt or reset).
    fn update_with(&self, name: &str, body: &Value, audited: bool) -> Result<ProxyView, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_request("bad request body: expected a JSON object"))?;
        let mut proxies = self.lock();
        let entry = proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let mut next = entry.spec.clone();
        for (key, slot) in [
            ("listen", &mut next.listen),
            ("upstream", &mut next.upstream),
        ] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if !s.is_empty() => *slot = s.clone(),
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "{key} must be a host:port string"
                    )));
                }
            }
        }
        match obj.get("enabled") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => next.enabled = *b,
            Some(_) => return Err(ApiError::bad_request("enabled must be true or false")),
        }
        self.check_spec(&next)?;
        if audited && next != entry.spec {
            self.record(&Change::ProxyUpdated {
                before: &entry.spec,
                after: &next,
            })?;
        }
        let restart = next.listen != entry.spec.listen
            || next.upstream != entry.spec.upstream
            || next.enabled != entry.spec.enabled;
        if restart {
            if let Some(t) = entry.running.take() {
                t.cancel();
            }
            let fresh = self.start_entry(next, Arc::clone(&entry.toxics));
            match fresh {
                Ok(e) => *entry = e,
                Err(err) => {
                    // Could not bind the new address: put the old listener back.
                    let old = entry.spec.clone();
                    if let Ok(e) = self.start_entry(old, Arc::clone(&entry.toxics)) {
                        *entry = e;
                    }
                    return Err(err);
                }
            }
        }
        Ok(view(entry))
    }

    /// Stops and removes a proxy, closing its connections.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        let entry = self
            .lock()
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        if let Some(t) = entry.running {
            t.cancel();
        }
        self.record(&Change::ProxyDeleted(name))?;
        Ok(())
    }

    /// Creates or replaces every proxy of `specs` (all validated first). An existing proxy
    /// with the same addresses keeps its listener and toxics; others are recreated.
    pub fn populate(&self, specs: Vec<ProxySpec>) -> Result<Vec<ProxyView>, ApiError> {
        for s in &specs {
            self.check_spec(s)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &specs {
            if !seen.insert(s.name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "proxy {:?} is listed twice",
                    s.name
                )));
            }
        }
        let mut out = Vec::new();
        for spec in specs {
            let same = self.lock().get(&spec.name).is_some_and(|e| {
                e.spec.upstream == spec.upstream
                    && (e.spec.listen == spec.listen || port_zero(&spec.listen))
            });
            if same {
                let body = serde_json::json!({"enabled": spec.enabled});
                out.push(self.update(&spec.name, &body)?);
            } else {
                let _ = self.delete(&spec.name);
                out.push(self.create(spec)?);
            }
        }
        Ok(out)
    }

    /// Enables every proxy and removes every toxic.
    pub fn reset(&self) -> Result<(), ApiError> {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for name in names {
            if let Some(e) = self.lock().get(&name) {
                e.toxics.replace(Vec::new());
            }
            self.update_with(&name, &serde_json::json!({"enabled": true}), false)?;
        }
        self.record(&Change::Reset)?;
        Ok(())
    }

    /// A proxy's toxics.
    pub fn toxics(&self, proxy: &str) -> Result<Vec<ToxicSpec>, ApiError> {
        Ok(self.get(proxy)?.toxics)
    }

    /// Adds a toxic (create body); 409 if its name is taken.
    pub fn add_toxic(&self, proxy: &str, body: &Value) -> Result<ToxicSpec, ApiError> {
        // Checked under the proxies' lock, which `halt` takes after setting the flag: a toxic
        // is either refused here or removed by the halt.
        let proxies = self.lock();
        self.refuse_if_halted("add a toxic")?;
        let entry = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let toxic = ToxicSpec::from_create(body)?;
        let mut list = (*entry.toxics.snapshot()).clone();
        if list.iter().any(|t| t.name == toxic.name) {
            return Err(ApiError::conflict("toxic already exists"));
        }
        self.record(&Change::ToxicAdded {
            proxy,
            toxic: &toxic,
        })?;
        list.push(toxic.clone());
        entry.toxics.replace(list);
        Ok(toxic)
    }

    /// Updates a toxic's stream, toxicity or attributes.
    pub fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        body: &Value,
    ) -> Result<ToxicSpec, ApiError> {
        let proxies = self.lock();
        self.refuse_if_halted("change a toxic")?;
        let entry = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let mut list = (*entry.toxics.snapshot()).clone();
        let slot = list
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(ApiError::toxic_not_found)?;
        let next = slot.updated(body)?;
        self.record(&Change::ToxicUpdated {
            proxy,
            toxic: &next,
        })?;
        *slot = next;
        let out = slot.clone();
        entry.toxics.replace(list);
        Ok(out)
    }

    /// Removes a toxic.
    pub fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ApiError> {
        let proxies = self.lock();
        let entry = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let mut list = (*entry.toxics.snapshot()).clone();
        let before = list.len();
        list.retain(|t| t.name != name);
        if list.len() == before {
            return Err(ApiError::toxic_not_found());
        }
        entry.toxics.replace(list);
        self.record(&Change::ToxicRemoved { proxy, name })?;
        Ok(())
    }

    /// The guardian's halt: from now on no toxic can be added or changed and no proxy
    /// disabled (409, naming `reason`), then every toxic of every proxy is removed — live, on
    /// open connections too, a chunk being delayed included — and every disabled proxy is
    /// enabled again. Returns what was removed. Proxies themselves keep forwarding.
    pub fn halt(&self, reason: &str) -> Halted {
        *self.inner.halted.write().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
        let mut out = Halted::default();
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for name in names {
            let disabled = {
                let proxies = self.lock();
                let Some(e) = proxies.get(&name) else {
                    continue;
                };
                let removed = e.toxics.snapshot();
                if !removed.is_empty() {
                    e.toxics.replace(Vec::new());
                    out.toxics
                        .extend(removed.iter().map(|t| (name.clone(), t.clone())));
                }
                !e.spec.enabled
            };
            if disabled {
                match self.update_with(&name, &serde_json::json!({"enabled": true}), false) {
                    Ok(_) => out.enabled.push(name),
                    Err(e) => out.errors.push(format!("cannot re-enable {name}: {e}")),
                }
            }
        }
        out
    }

    /// Lifts the halt: toxics may be added again (none come back by themselves, as after
    /// `/reset`). `false` when not halted.
    pub fn resume(&self) -> bool {
        self.inner
            .halted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
    }

    /// Why faults are refused, while halted.
    pub fn halted(&self) -> Option<String> {
        self.inner
            .halted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn refuse_if_halted(&self, what: &str) -> Result<(), ApiError> {
        match self.halted() {
            Some(reason) => Err(ApiError::halted(format!(
                "cannot {what}: chaos is halted ({reason}); `shakedown resume` lifts the halt"
            ))),
            None => Ok(()),
        }
    }

    /// Stops every proxy and waits for their connections to end.
    pub async fn shutdown(&self) {
        self.inner.token.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    fn check_spec(&self, spec: &ProxySpec) -> Result<(), ApiError> {
        if !spec.enabled {
            // A disabled proxy is an outage: a fault like any toxic.
            self.refuse_if_halted("disable a proxy")?;
        }
        if spec.name.is_empty() {
            return Err(ApiError::bad_request("missing required field: name"));
        }
        if spec.upstream.is_empty() {
            return Err(ApiError::bad_request("missing required field: upstream"));
        }
        self.resolve(&spec.listen, "listen")?;
        self.resolve(&spec.upstream, "upstream")?;
        Ok(())
    }

    /// Resolves `host:port`, refusing anything outside loopback unless allowed.
    fn resolve(&self, addr: &str, what: &str) -> Result<SocketAddr, ApiError> {
        let resolved = match addr.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
                    ApiError::bad_request(format!("{what} {addr:?} is not host:port"))
                })?;
                let port: u16 = port.parse().map_err(|_| {
                    ApiError::bad_request(format!("{what} {addr:?} has an invalid port"))
                })?;
                if host == "localhost" {
                    SocketAddr::from(([127, 0, 0, 1], port))
                } else if self.inner.allow_non_loopback {
                    addr.to_socket_addrs()
                        .ok()
                        .and_then(|mut a| a.next())
                        .ok_or_else(|| {
                            ApiError::bad_request(format!("{what} {addr:?} does not resolve"))
                        })?
                } else {
                    return Err(self.outside(addr, what));
                }
            }
        };
        if !self.inner.allow_non_loopback && !resolved.ip().is_loopback() {
            return Err(self.outside(addr, what));
        }
        Ok(resolved)
    }

    fn outside(&self, addr: &str, what: &str) -> ApiError {
        ApiError::bad_request(format!(
            "{what} {addr:?} is not a loopback address; only 127.0.0.0/8, ::1 and localhost are \
             allowed unless the server is started with --allow-non-loopback"
        ))
    }

    /// Builds an entry, binding and spawning its listener when enabled.
    fn start_entry(&self, mut spec: ProxySpec, toxics: Arc<ToxicSet>) -> Result<Entry, ApiError> {
        if !spec.enabled {
            return Ok(Entry {
                spec,
                toxics,
                running: None,
            });
        }
        let listen = self.resolve(&spec.listen, "listen")?;
        let upstream = self.resolve(&spec.upstream, "upstream")?;
        let std_listener = std::net::TcpListener::bind(listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| ApiError::conflict(format!("cannot listen on {listen}: {e}")))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| ApiError::conflict(format!("cannot listen on {listen}: {e}")))?;
        if let Ok(bound) = listener.local_addr() {
            spec.listen = bound.to_string();
        }
        let token = self.inner.token.child_token();
        let tracker = self.inner.tracker.clone();
        let run = token.clone();
        let set = Arc::clone(&toxics);
        self.inner.tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = run.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            let _ = client.set_nodelay(true);
                            let set = Arc::clone(&set);
                            let conn = run.child_token();
                            tracker.spawn(link::serve(client, upstream, set, conn));
                        }
                        Err(e) => {
                            tracing::warn!("tcp-proxy accept failed: {e}");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                    },
                }
            }
        });
        Ok(Entry {
            spec,
            toxics,
            running: Some(token),
        })
    }
}

fn port_zero(listen: &str) -> bool {
    listen.ends_with(":0")
}

fn view(e: &Entry) -> ProxyView {
    ProxyView {
        spec: e.spec.clone(),
        toxics: (*e.toxics.snapshot()).clone(),
    }
}
