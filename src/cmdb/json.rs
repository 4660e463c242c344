//! Writing JSON replies straight to bytes.
//!
//! Lists of thousands of objects are the hot path of `GET /config/node`; building
//! a `serde_json::Value` tree for each object and then serializing it costs more
//! in allocation than everything else. `Objects` writes `{"name": {...}, ...}`
//! directly; values still go through serde_json, so escaping is serde's.

use serde_json::{Map, Value};

/// Objects keyed by name, as JSON text.
pub struct Objects {
    buf: Vec<u8>,
    count: usize,
}

impl Objects {
    /// Starts `{"config": {"<kind>": {`; `bytes` is a capacity hint.
    pub fn new(kind: &str, bytes: usize) -> Objects {
        let mut buf = Vec::with_capacity(bytes + kind.len() + 16);
        buf.extend_from_slice(b"{\"config\":{");
        write_str(&mut buf, kind);
        buf.extend_from_slice(b":{");
        Objects { buf, count: 0 }
    }

    pub fn push(&mut self, name: &str, obj: &Map<String, Value>) {
        self.push_with(name, |w| {
            for (k, v) in obj {
                w.field(k, v);
            }
        });
    }

    /// Writes one object whose fields `fill` writes.
    pub fn push_with(&mut self, name: &str, fill: impl FnOnce(&mut ObjectWriter)) {
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.count += 1;
        write_str(&mut self.buf, name);
        self.buf.extend_from_slice(b":{");
        let mut w = ObjectWriter {
            buf: &mut self.buf,
            first: true,
        };
        fill(&mut w);
        self.buf.push(b'}');
    }

    /// Closes the document.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(b"}}}");
        self.buf
    }
}

pub struct ObjectWriter<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl ObjectWriter<'_> {
    fn key(&mut self, parts: &[&str]) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        for p in parts {
            // Keys are field names from our own tables: plain ASCII, no escaping.
            self.buf.extend_from_slice(p.as_bytes());
        }
        self.buf.extend_from_slice(b"\":");
    }

    pub fn field(&mut self, key: &str, value: &Value) {
        self.key(&[key]);
        write_value(self.buf, value);
    }

    /// A field whose key is the concatenation of `parts`.
    pub fn field_parts(&mut self, parts: &[&str], value: &Value) {
        self.key(parts);
        write_value(self.buf, value);
    }

    /// A column value, written without building a `Value` for it.
    pub fn field_sql(
        &mut self,
        key: &str,
        kind: super::resource::Kind,
        value: &rusqlite::types::Value,
    ) {
        use super::resource::Kind;
        use rusqlite::types::Value as Sql;
        match (kind, value) {
            (_, Sql::Null) => {
                self.key(&[key]);
                self.buf.extend_from_slice(b"null");
            }
            (
                Kind::Text
                | Kind::Choice(_)
                | Kind::Ref { .. }
                | Kind::Ip
                | Kind::IpList
                | Kind::Cidr
                | Kind::Mac,
                Sql::Text(s),
            ) => self.field_str(key, s),
            (Kind::Bool, Sql::Integer(n)) => {
                self.key(&[key]);
                self.buf
                    .extend_from_slice(if *n != 0 { b"true" } else { b"false" });
            }
            (Kind::Int { .. }, Sql::Integer(n)) => {
                self.key(&[key]);
                self.buf.extend_from_slice(n.to_string().as_bytes());
            }
            _ => self.field(key, &super::resource::to_json(kind, value)),
        }
    }

    pub fn field_str(&mut self, key: &str, value: &str) {
        self.key(&[key]);
        write_str(self.buf, value);
    }
}

/// Where an object's fields go: JSON text (`ObjectWriter`, for replies) or a
/// `Map` (for callers that use the values, such as boot scripts and the
/// generated configs). One renderer serves both.
pub trait Fields {
    fn field(&mut self, key: &str, value: &Value);
    /// A field whose key is the concatenation of `parts`.
    fn field_parts(&mut self, parts: &[&str], value: &Value);
    fn field_str(&mut self, key: &str, value: &str);
    fn field_sql(&mut self, key: &str, kind: super::resource::Kind, value: &rusqlite::types::Value);
}

impl Fields for ObjectWriter<'_> {
    fn field(&mut self, key: &str, value: &Value) {
        ObjectWriter::field(self, key, value)
    }
    fn field_parts(&mut self, parts: &[&str], value: &Value) {
        ObjectWriter::field_parts(self, parts, value)
    }
    fn field_str(&mut self, key: &str, value: &str) {
        ObjectWriter::field_str(self, key, value)
    }
    fn field_sql(
        &mut self,
        key: &str,
        kind: super::resource::Kind,
        value: &rusqlite::types::Value,
    ) {
        ObjectWriter::field_sql(self, key, kind, value)
    }
}

impl Fields for Map<String, Value> {
    fn field(&mut self, key: &str, value: &Value) {
        self.insert(key.to_string(), value.clone());
    }
    fn field_parts(&mut self, parts: &[&str], value: &Value) {
        self.insert(parts.concat(), value.clone());
    }
    fn field_str(&mut self, key: &str, value: &str) {
        self.insert(key.to_string(), Value::String(value.to_string()));
    }
    fn field_sql(
        &mut self,
        key: &str,
        kind: super::resource::Kind,
        value: &rusqlite::types::Value,
    ) {
        self.insert(key.to_string(), super::resource::to_json(kind, value));
    }
}

fn write_value(buf: &mut Vec<u8>, v: &Value) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, v);
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *buf, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_valid_json_with_escapes() {
        let mut o = Objects::new("node", 16);
        o.push_with("a\"b", |w| {
            w.field("x", &json!([1, "two"]));
            w.field_parts(&["_", "x", "_source"], &json!("group"));
            w.field_str("s", "line\nbreak");
            use rusqlite::types::Value as Sql;
            w.field_sql(
                "t",
                crate::cmdb::resource::Kind::Text,
                &Sql::Text("a\"b".into()),
            );
            w.field_sql("b", crate::cmdb::resource::Kind::Bool, &Sql::Integer(1));
            w.field_sql(
                "n",
                crate::cmdb::resource::Kind::Int { min: 0, max: 9 },
                &Sql::Integer(-3),
            );
            w.field_sql("z", crate::cmdb::resource::Kind::Text, &Sql::Null);
        });
        o.push("c", json!({"k": null}).as_object().unwrap());
        let v: Value = serde_json::from_slice(&o.finish()).unwrap();
        assert_eq!(
            v,
            json!({"config": {"node": {"a\"b": {"x": [1, "two"], "_x_source": "group", "s": "line\nbreak",
                "t": "a\"b", "b": true, "n": -3, "z": null}, "c": {"k": null}}}})
        );
        let empty: Value = serde_json::from_slice(&Objects::new("group", 0).finish()).unwrap();
        assert_eq!(empty, json!({"config": {"group": {}}}));
    }

    /// The text and the map a renderer fills are the same object.
    #[test]
    fn text_and_map_agree() {
        use crate::cmdb::resource::Kind;
        use rusqlite::types::Value as Sql;
        fn fill(w: &mut dyn Fields) {
            w.field("x", &json!([1, "two"]));
            w.field_parts(&["_", "x", "_source"], &json!("group"));
            w.field_str("s", "line\nbreak \u{1}");
            w.field_sql("t", Kind::Text, &Sql::Text("a\"b".into()));
            w.field_sql("b", Kind::Bool, &Sql::Integer(1));
            w.field_sql("n", Kind::Int { min: -9, max: 9 }, &Sql::Integer(-3));
            w.field_sql("p", Kind::Script, &Sql::Text("echo hi".into()));
            w.field_sql("z", Kind::Text, &Sql::Null);
        }
        let mut o = Objects::new("node", 16);
        o.push_with("one", |w| fill(w));
        let doc: Value = serde_json::from_slice(&o.finish()).unwrap();
        let mut map = Map::new();
        fill(&mut map);
        assert_eq!(doc["config"]["node"]["one"], Value::Object(map));
    }
}
