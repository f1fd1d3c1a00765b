//! Deterministic JSON: the bytes we hash. Object keys sorted bytewise, no whitespace.
//!
//! Neither the OCI image spec nor a registry asks for canonical JSON: a digest is over the
//! exact bytes, whatever their form, and readers keep those bytes (see [`crate::model`]). We
//! sort for reproducibility: oci-spec keeps annotations and labels in `HashMap`s, and
//! `serde_json::to_vec` on them writes keys in the hash map's per-process random order, so
//! the same image would get another digest on each run. Going through `serde_json::Value` sorts
//! only while no crate in the build turns on serde_json's `preserve_order` feature (features
//! unify across the dependency graph), so [`to_canonical_vec`] sorts the keys itself.

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;

/// Encodes `value` as compact JSON with every object's keys in sorted order.
pub fn to_canonical_vec(value: &impl Serialize, what: &str) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).map_err(|source| Error::Json {
        what: what.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    write_value(&value, &mut out);
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_value(&map[key.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // serializing a scalar into a Vec cannot fail
    serde_json::to_writer(out, value).expect("scalar json encodes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let mut inner = HashMap::new();
        for k in ["zeta", "alpha", "mid", "Beta"] {
            inner.insert(k.to_owned(), k.len());
        }
        let doc = serde_json::json!({"b": [inner], "a": "x\"y", "c": null});
        let bytes = to_canonical_vec(&doc, "test").unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":"x\"y","b":[{"Beta":4,"alpha":5,"mid":3,"zeta":4}],"c":null}"#
        );
    }
}
