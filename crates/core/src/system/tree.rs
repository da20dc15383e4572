//! A YAML document read into a JSON value plus a map from JSON pointers to source locations,
//! so that schema and semantic problems can name the line and column they come from.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A YAML node with the location of each child.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Spanned<Node>>()? {
            let v = map.next_value::<Spanned<Node>>()?;
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

/// A 1-based source position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// The document as JSON, with the position of every value and every mapping key.
pub struct Located {
    pub value: Value,
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl Located {
    /// Position of the value at `pointer`, or of its nearest located ancestor.
    pub fn value_pos(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos { line: 1, column: 1 },
            }
        }
    }
    /// Position of the key naming the value at `pointer` (falls back to the value).
    pub fn key_pos(&self, pointer: &str) -> Pos {
        self.keys
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.value_pos(pointer))
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Reads YAML text. A syntax error comes back as a message with its position.
pub fn read(text: &str) -> Result<Located, (Pos, String)> {
    // YAML 1.2 booleans only: `y`, `no` and `on` stay strings, as a reader expects.
    let options = serde_saphyr::options! { strict_booleans: true };
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        (pos, e.without_snippet().to_string())
    })?;
    let mut located = Located {
        value: Value::Null,
        values: HashMap::new(),
        keys: HashMap::new(),
    };
    located.value = convert(root, String::new(), &mut located)?;
    Ok(located)
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    Pos {
        line: s.referenced.line(),
        column: s.referenced.column(),
    }
}

fn convert(
    node: Spanned<Node>,
    pointer: String,
    out: &mut Located,
) -> Result<Value, (Pos, String)> {
    let pos = pos_of(&node);
    out.values.insert(pointer.clone(), pos);
    Ok(match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(i.into()),
        Node::UInt(u) => Value::Number(u.into()),
        Node::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| (pos, "numbers must be finite (no .inf or .nan)".to_string()))?,
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(item, format!("{pointer}/{i}"), out))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let kpos = pos_of(&k);
                let key = match k.value {
                    Node::Str(s) => s,
                    Node::Int(i) => i.to_string(),
                    Node::UInt(u) => u.to_string(),
                    Node::Bool(b) => b.to_string(),
                    _ => return Err((kpos, "mapping keys must be plain scalars".to_string())),
                };
                let child = format!("{pointer}/{}", escape(&key));
                if map.contains_key(&key) {
                    return Err((kpos, format!("duplicate key `{key}`")));
                }
                out.keys.insert(child.clone(), kpos);
                let value = convert(v, child, out)?;
                map.insert(key, value);
            }
            Value::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values_and_keys() {
        let text = "a: 1\nlist:\n  - x: hello\n    y: [1, 2]\n";
        let doc = read(text).unwrap();
        assert_eq!(doc.value["list"][0]["x"], "hello");
        assert_eq!(doc.value_pos("/list/0/x"), Pos { line: 3, column: 8 });
        assert_eq!(doc.key_pos("/list/0/y"), Pos { line: 4, column: 5 });
        assert_eq!(
            doc.value_pos("/list/0/y/1"),
            Pos {
                line: 4,
                column: 12
            }
        );
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(doc.value_pos("/list/0/x/zzz"), Pos { line: 3, column: 8 });
    }

    #[test]
    fn syntax_errors_are_located() {
        let (pos, msg) = read("a: 1\nb: [1, 2\nc: 3\n").err().unwrap();
        assert!(pos.line >= 2, "{pos:?} {msg}");
        let (pos, msg) = read("a: 1\na: 2\n").err().unwrap();
        assert_eq!(pos.line, 2, "{msg}");
        assert!(msg.contains("duplicate"), "{msg}");
    }
}
