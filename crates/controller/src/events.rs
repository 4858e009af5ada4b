//! Events as ESO records them: core/v1 `Event`s (what ESO's RBAC grants, and what `kubectl describe` and most
//! dashboards read), with client-go's recorder manners: one Event object per (object, type, reason, message),
//! repeated occurrences counted on it (`count`, `lastTimestamp`) instead of new objects.
//!
//! Recording never delays a sync: [`Recorder::record`] queues the event and returns, and one background task
//! writes the queue (as client-go's broadcaster does, whose reconcilers never wait on an event either). A full
//! queue drops the event with a debug line and a count in `externalsecret_events_dropped_total` — the sync it
//! describes already went through, and an apiserver too slow to take events must not slow secrets down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// The component events are attributed to (`source.component`, `reportingComponent`).
pub const COMPONENT: &str = "external-secrets";

/// The longest message we record (events.k8s.io's limit; core has none, but a bounded message keeps etcd small).
const MAX_MESSAGE: usize = 1024;

/// Recorded events remembered for counting repetitions; past this the memory is dropped and counting restarts.
const MAX_REMEMBERED: usize = 4096;

/// Events waiting to be written; client-go's broadcaster queue holds 1000.
const QUEUE: usize = 1024;

/// Whether an event is `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    type_: EventType,
    reason: String,
    message: String,
}

struct Seen {
    namespace: String,
    name: String,
    count: i32,
}

/// Records core/v1 events.
pub struct Recorder {
    writer: Arc<Writer>,
    queue: tokio::sync::mpsc::Sender<Pending>,
    dropped: prometheus_client::metrics::counter::Counter,
}

/// One event waiting in the queue.
struct Pending {
    regarding: ObjectReference,
    type_: EventType,
    reason: &'static str,
    message: String,
}

/// Writes events to the apiserver and remembers what it wrote, for counting repetitions.
struct Writer {
    client: kube::Client,
    instance: Option<String>,
    seen: Mutex<HashMap<Key, Seen>>,
}

/// `message` cut to [`MAX_MESSAGE`] bytes on a character boundary.
fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

impl Recorder {
    /// A recorder writing with `client`; `instance` is the reporting instance (the pod name). `dropped` counts
    /// events dropped because the queue was full. Starts the writer task: call it inside a tokio runtime.
    pub fn new(
        client: kube::Client,
        instance: Option<String>,
        dropped: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        let writer = Arc::new(Writer { client, instance, seen: Mutex::default() });
        let (queue, mut pending) = tokio::sync::mpsc::channel::<Pending>(QUEUE);
        let background = writer.clone();
        tokio::spawn(async move {
            while let Some(p) = pending.recv().await {
                if let Err(e) = background.publish(&p.regarding, p.type_, p.reason, p.message).await {
                    tracing::warn!(error = %e, reason = p.reason, "could not record event");
                }
            }
        });
        Self { writer, queue, dropped }
    }

    /// Queues one occurrence of an event on `regarding` and returns at once (see the module documentation).
    pub fn record(&self, regarding: ObjectReference, type_: EventType, reason: &'static str, message: String) {
        let pending = Pending { regarding, type_, reason, message };
        if self.queue.try_send(pending).is_err() {
            self.dropped.inc();
            tracing::debug!(reason, "event queue full: event dropped");
        }
    }

    /// Forgets what was recorded about the object with `uid` (it was deleted).
    pub fn forget(&self, uid: &str) {
        self.writer.seen.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| k.uid != uid);
    }
}

impl Writer {
    /// Records one occurrence of an event on `regarding`: a new Event, or one more on the Event recorded before
    /// for the same object, type, reason and message.
    async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: String,
    ) -> Result<(), kube::Error> {
        let message = bounded(message);
        let key = Key { uid: regarding.uid.clone().unwrap_or_default(), type_, reason: reason.to_string(), message };
        let now = jiff::Timestamp::now();
        let repeat = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.get(&key).map(|s| (s.namespace.clone(), s.name.clone(), s.count.saturating_add(1)))
        };
        if let Some((namespace, name, count)) = repeat {
            let patch = json!({"count": count, "lastTimestamp": Time(now)});
            let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {
                    self.remember(key, Seen { namespace, name, count });
                    return Ok(());
                }
                // Gone (events expire after an hour by default): record it anew.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        // Cluster-scoped objects get their events in `default`, as client-go does.
        let namespace = regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_string());
        let name = format!("{}.{:x}", regarding.name.clone().unwrap_or_default(), now.as_nanosecond().max(0));
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..Default::default() },
            involved_object: regarding.clone(),
            reason: Some(key.reason.clone()),
            message: Some(key.message.clone()),
            type_: Some(type_.as_str().to_string()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            action: Some(key.reason.clone()),
            source: Some(EventSource { component: Some(COMPONENT.to_string()), host: None }),
            reporting_component: Some(COMPONENT.to_string()),
            reporting_instance: Some(self.instance.clone().unwrap_or_else(|| COMPONENT.to_string())),
            ..Default::default()
        };
        Api::<Event>::namespaced(self.client.clone(), &namespace).create(&PostParams::default(), &event).await?;
        self.remember(key, Seen { namespace, name, count: 1 });
        Ok(())
    }

    fn remember(&self, key: Key, seen: Seen) {
        let mut remembered = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if remembered.len() >= MAX_REMEMBERED && !remembered.contains_key(&key) {
            remembered.clear();
        }
        remembered.insert(key, seen);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recording_never_waits_and_a_full_queue_drops_and_counts() {
        // Nothing listens on port 1: the writer's requests fail, which must not matter to the caller.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let dropped = prometheus_client::metrics::counter::Counter::<u64>::default();
        let recorder = Recorder::new(client, None, dropped.clone());
        let regarding = ObjectReference { name: Some("es".to_string()), ..Default::default() };
        // A current-thread runtime: the writer task cannot run between these calls, so the queue fills exactly.
        for i in 0..QUEUE + 10 {
            recorder.record(regarding.clone(), EventType::Normal, "Updated", format!("event {i}"));
        }
        assert_eq!(dropped.get(), 10);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(600); // 1200 bytes
        let cut = bounded(message);
        assert!(cut.len() <= MAX_MESSAGE);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("short".to_string()), "short");
    }
}
