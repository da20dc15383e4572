//! CommandComplete: a statement finished; its tag says what it was and how many rows it
//! touched (`INSERT 0 5`, `DELETE 3`, `SELECT 10`, `CREATE TABLE`…).

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::Message;
use super::tags::backend::COMMAND_COMPLETE;
use super::wire::{Reader, put_cstr, text};
use crate::pg::error::MessageError;

/// Commands whose tag ends with a row count.
const COUNTED: &[&str] = &[
    "INSERT", "DELETE", "UPDATE", "SELECT", "MOVE", "FETCH", "COPY", "MERGE",
];

/// A statement finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandComplete {
    /// The command tag.
    pub tag: Bytes,
}

impl CommandComplete {
    /// A CommandComplete with `tag`.
    pub fn new(tag: impl AsRef<[u8]>) -> Self {
        Self {
            tag: Bytes::copy_from_slice(tag.as_ref()),
        }
    }

    /// The whole tag as text.
    pub fn tag_text(&self) -> Cow<'_, str> {
        text(&self.tag)
    }

    /// The command word(s) without the counts (`INSERT`, `CREATE TABLE`).
    pub fn command(&self) -> String {
        let t = self.tag_text();
        match self.rows() {
            Some(_) => t.split(' ').next().unwrap_or_default().to_string(),
            None => t.into_owned(),
        }
    }

    /// Rows affected or returned, for the commands that report it.
    pub fn rows(&self) -> Option<u64> {
        let t = std::str::from_utf8(&self.tag).ok()?;
        let command = t.split(' ').next()?;
        if !COUNTED.contains(&command) {
            return None;
        }
        t.rsplit(' ').next()?.parse().ok()
    }
}

impl Message for CommandComplete {
    const TAG: u8 = COMMAND_COMPLETE;
    const NAME: &'static str = "CommandComplete";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let tag = r.cstr()?;
        r.finish()?;
        Ok(Self { tag })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.tag);
    }
}

#[cfg(test)]
mod tests {
    use super::CommandComplete;

    #[test]
    fn rows_come_from_the_last_number_of_counted_commands() {
        assert_eq!(CommandComplete::new("INSERT 0 5").rows(), Some(5));
        assert_eq!(CommandComplete::new("DELETE 3").rows(), Some(3));
        assert_eq!(CommandComplete::new("SELECT 10").rows(), Some(10));
        assert_eq!(CommandComplete::new("MERGE 2").rows(), Some(2));
        assert_eq!(CommandComplete::new("CREATE TABLE").rows(), None);
        assert_eq!(CommandComplete::new("BEGIN").rows(), None);
        assert_eq!(CommandComplete::new("INSERT 0 5").command(), "INSERT");
        assert_eq!(
            CommandComplete::new("CREATE TABLE").command(),
            "CREATE TABLE"
        );
    }
}
