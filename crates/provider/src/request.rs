//! What to fetch from a store: the units of de-duplication and batching.

use std::collections::BTreeMap;

/// `remoteRef.metadataPolicy`: fetch the value itself, or the metadata (tags, labels) describing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetadataPolicy {
    /// The secret's value (the default).
    #[default]
    None,
    /// The secret's metadata, rendered by the provider as a JSON object (AWS: tags).
    Fetch,
}

/// One thing to read from a store: the unit of de-duplication and batching.
///
/// `property`, decoding and conversion are not part of it on purpose: two `data[]` entries that take two
/// properties of one remote secret share one `RemoteKey`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteKey {
    /// The provider's name, path or ARN of the secret (before any store `prefix`; the provider adds it).
    pub key: String,
    /// Provider-specific version selector (AWS SM: stage or `uuid/<id>`; SSM: number or label).
    pub version: Option<String>,
    /// Whether the value or its metadata is wanted.
    pub metadata_policy: MetadataPolicy,
}

impl RemoteKey {
    /// A key for the current value, no version, no metadata.
    pub fn value(key: impl Into<String>) -> Self {
        Self { key: key.into(), version: None, metadata_policy: MetadataPolicy::None }
    }
}

/// `dataFrom[].find`: which remote secrets to list and read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FindQuery {
    /// Provider-specific scope (AWS SM: name prefix; SSM: parameter path).
    pub path: Option<String>,
    /// Unanchored RE2-style regular expression on the remote name; `Some` whenever `find.name` is set (an empty
    /// one matches every name), so that a provider can tell a search by name from one by tags, as ESO does.
    pub name_regexp: Option<String>,
    /// Tag (or label) equality filters, all of which must match.
    pub tags: BTreeMap<String, String>,
}
