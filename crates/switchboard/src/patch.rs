//! Patch requests: a field left out keeps its value, an explicit `null` clears it.

use serde::{Deserialize, Deserializer};

/// For `#[serde(default, deserialize_with = "crate::patch::nullable")]` on an
/// `Option<Option<T>>`: `Some(None)` for `null`, `None` when the field is absent.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
