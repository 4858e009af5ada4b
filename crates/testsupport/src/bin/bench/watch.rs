//! One watch per namespace (not a LIST every few hundred milliseconds) to see when ExternalSecrets become Ready,
//! when they refresh, and when target Secrets change. Times are seconds since the watch's `origin`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;

pub fn es_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("external-secrets.io", "v1", kind))
}

fn is_ready(obj: &DynamicObject) -> bool {
    obj.data["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// What the ExternalSecret watch saw.
#[derive(Default)]
pub struct EsSeen {
    /// First time each ExternalSecret was seen Ready=True.
    pub ready: HashMap<String, f64>,
    /// When a new `status.refreshTime` of each ExternalSecret was first seen (one entry per refresh).
    pub refreshes: HashMap<String, Vec<f64>>,
    /// The watch's initial LIST is done.
    pub init_done: bool,
    last_refresh_time: HashMap<String, String>,
}

impl EsSeen {
    /// Refreshes seen at or after `since` (seconds since origin), all ExternalSecrets together.
    pub fn refreshes_since(&self, since: f64) -> usize {
        self.refreshes.values().map(|ts| ts.iter().filter(|t| **t >= since).count()).sum()
    }

    /// How many ExternalSecrets refreshed at least once at or after `since`.
    pub fn refreshed_since(&self, since: f64) -> usize {
        self.refreshes.values().filter(|ts| ts.iter().any(|t| *t >= since)).count()
    }

    /// Every refresh time seen at or after `since`, sorted.
    pub fn refresh_times_since(&self, since: f64) -> Vec<f64> {
        let mut all: Vec<f64> = self.refreshes.values().flatten().copied().filter(|t| *t >= since).collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

/// A running watch of the ExternalSecrets of one namespace; stopped when dropped.
pub struct EsWatch {
    pub origin: Instant,
    seen: Arc<Mutex<EsSeen>>,
    task: tokio::task::JoinHandle<()>,
}

impl EsWatch {
    pub fn start(client: kube::Client, namespace: &str, origin: Instant) -> Self {
        let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &es_resource("ExternalSecret"));
        let seen = Arc::new(Mutex::new(EsSeen::default()));
        let state = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                let now = origin.elapsed().as_secs_f64();
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                let o = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    Ok(watcher::Event::InitDone) => {
                        s.init_done = true;
                        continue;
                    }
                    _ => continue,
                };
                {
                    let Some(name) = o.metadata.name.clone() else { continue };
                    if is_ready(&o) {
                        s.ready.entry(name.clone()).or_insert(now);
                    }
                    if let Some(t) = o.data["status"]["refreshTime"].as_str()
                        && s.last_refresh_time.get(&name).map(String::as_str) != Some(t)
                    {
                        s.last_refresh_time.insert(name.clone(), t.to_string());
                        s.refreshes.entry(name).or_default().push(now);
                    }
                }
            }
        });
        Self { origin, seen, task }
    }

    pub fn seen(&self) -> MutexGuard<'_, EsSeen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// Waits until `done` holds for what was seen, checking every 100 ms, at most `timeout`; also stops early
    /// with an error when `alive` fails (the operator died).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        mut alive: impl FnMut() -> Result<()>,
        done: impl Fn(&EsSeen) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.seen()) {
                return Ok(());
            }
            alive()?;
            if Instant::now() > deadline {
                bail!("timed out after {} s waiting for {what}", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EsWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Secret name → (data key, value to wait for).
pub type Expected = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

/// A running watch of the Secrets of one namespace: when each first showed an expected value under a key.
pub struct SecretWatch {
    /// name → (key, expected value); set by the caller before it changes the value at the provider.
    pub expected: Expected,
    /// name → first time (seconds since origin) the expected value was seen.
    pub seen: Arc<Mutex<HashMap<String, f64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SecretWatch {
    pub fn start(client: kube::Client, namespace: &str, origin: Instant) -> Self {
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let expected: Expected = Arc::default();
        let seen: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
        let (want, got) = (expected.clone(), seen.clone());
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                let now = origin.elapsed().as_secs_f64();
                let secret = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    _ => continue,
                };
                let Some(name) = secret.metadata.name.clone() else { continue };
                let want = want.lock().unwrap_or_else(|p| p.into_inner());
                let Some((key, value)) = want.get(&name) else { continue };
                let matches = secret.data.as_ref().and_then(|d| d.get(key)).is_some_and(|v| &v.0 == value);
                if matches {
                    got.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_insert(now);
                }
            }
        });
        Self { expected, seen, task }
    }
}

impl Drop for SecretWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
