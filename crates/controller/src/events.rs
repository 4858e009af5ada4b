//! Events as ESO records them: core/v1 `Event`s (what ESO's RBAC grants, and what `kubectl describe` and most
//! dashboards read), with client-go's recorder manners: one Event object per (object, type, reason, message),
//! repeated occurrences counted on it (`count`, `lastTimestamp`) instead of new objects.

use std::collections::HashMap;
use std::sync::Mutex;

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
    /// A recorder writing with `client`; `instance` is the reporting instance (the pod name).
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        Self { client, instance, seen: Mutex::default() }
    }

    /// Records one occurrence of an event on `regarding`: a new Event, or one more on the Event recorded before
    /// for the same object, type, reason and message.
    pub async fn publish(
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

    /// Forgets what was recorded about the object with `uid` (it was deleted).
    pub fn forget(&self, uid: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| k.uid != uid);
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
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(600); // 1200 bytes
        let cut = bounded(message);
        assert!(cut.len() <= MAX_MESSAGE);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("short".to_string()), "short");
    }
}
