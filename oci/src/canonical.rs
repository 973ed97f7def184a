//! Canonical JSON: object keys sorted, no insignificant whitespace. The bytes kiln writes for a
//! document it makes; documents it receives are kept and hashed exactly as received.

use serde::Serialize;

/// `value` as canonical JSON bytes (keys sorted at every level).
pub fn to_canonical_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    // serde_json's `Value` keeps object keys in a sorted map (no `preserve_order` feature).
    let v = serde_json::to_value(value)?;
    serde_json::to_vec(&v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_sorted_at_every_level() {
        #[derive(serde::Serialize)]
        struct S {
            z: u8,
            a: std::collections::HashMap<&'static str, u8>,
        }
        let mut m = std::collections::HashMap::new();
        m.insert("y", 1);
        m.insert("b", 2);
        let out = super::to_canonical_json(&S { z: 1, a: m }).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"b":2,"y":1},"z":1}"#
        );
    }
}
