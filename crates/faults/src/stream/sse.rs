//! An incremental server-sent-events parser. Upstream chunks split events anywhere (even
//! between `\r` and `\n`); the parser hands out whole events together with their exact raw
//! bytes, so events a fault leaves alone are forwarded byte for byte.

use bytes::Bytes;

/// One SSE event (or a comment-only block) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The exact bytes of the block, blank line included.
    pub raw: Bytes,
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`; `None` when the block had no data line (a comment or
    /// keep-alive), which clients ignore.
    pub data: Option<String>,
}

impl SseEvent {
    /// Builds an event from its fields, framed as providers frame them (`\n` line ends).
    pub fn build(event: Option<&str>, data: &str) -> SseEvent {
        let mut raw = String::with_capacity(data.len() + 32);
        if let Some(name) = event {
            raw.push_str("event: ");
            raw.push_str(name);
            raw.push('\n');
        }
        for line in data.split('\n') {
            raw.push_str("data: ");
            raw.push_str(line);
            raw.push('\n');
        }
        raw.push('\n');
        SseEvent {
            raw: Bytes::from(raw),
            event: event.map(str::to_string),
            data: Some(data.to_string()),
        }
    }

    /// The same event with new data (the event name is kept).
    pub fn with_data(&self, data: &str) -> SseEvent {
        SseEvent::build(self.event.as_deref(), data)
    }

    /// The data parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.data.as_deref()?).ok()
    }

    /// Whether clients see this block at all (it carries data).
    pub fn is_event(&self) -> bool {
        self.data.is_some()
    }
}

/// Accumulates bytes and yields complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Where the current (unfinished) event starts in `buf`.
    start: usize,
    /// Where the next unread line starts in `buf`.
    line: usize,
    event: Option<String>,
    data: Option<String>,
}

/// Upper bound on one buffered event, so a stream without blank lines cannot grow memory
/// without limit; beyond it the partial event is handed out raw.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; complete events are pushed to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        self.buf.extend_from_slice(chunk);
        loop {
            let rest = &self.buf[self.line..];
            let Some(pos) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break;
            };
            let term_len = if rest[pos] == b'\r' {
                match rest.get(pos + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A lone `\r` at the end may be the first half of `\r\n`: wait.
                    None => break,
                }
            } else {
                1
            };
            let line = String::from_utf8_lossy(&rest[..pos]).into_owned();
            self.line += pos + term_len;
            if line.is_empty() {
                self.dispatch(out);
            } else {
                self.field(&line);
            }
        }
        if self.buf.len() - self.start > MAX_EVENT_BYTES {
            out.push(self.take_raw());
        }
        // Drop consumed bytes so the buffer holds at most one unfinished event.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.line -= self.start;
            self.start = 0;
        }
    }

    /// The stream ended: whatever is left (an event without its blank line) is returned raw,
    /// so the bytes are not lost; clients discard such an unfinished event.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.start >= self.buf.len() {
            return None;
        }
        Some(self.take_raw())
    }

    fn take_raw(&mut self) -> SseEvent {
        let raw = Bytes::copy_from_slice(&self.buf[self.start..]);
        self.buf.clear();
        self.start = 0;
        self.line = 0;
        self.event = None;
        self.data = None;
        SseEvent {
            raw,
            event: None,
            data: None,
        }
    }

    fn field(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let raw = Bytes::copy_from_slice(&self.buf[self.start..self.line]);
        self.start = self.line;
        out.push(SseEvent {
            raw,
            event: self.event.take(),
            data: self.data.take(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<SseEvent>) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out);
        }
        (out, p.finish())
    }

    #[test]
    fn events_split_anywhere_keep_raw_bytes() {
        let text = b"event: a\r\ndata: {\"x\":1}\r\n\r\n: keep-alive\n\ndata: one\ndata: two\n\ndata: [DONE]\n\n";
        for split in 0..text.len() {
            let (evs, rest) = parse_all(&[&text[..split], &text[split..]]);
            assert!(rest.is_none(), "split {split}");
            assert_eq!(evs.len(), 4, "split {split}");
            assert_eq!(evs[0].event.as_deref(), Some("a"));
            assert_eq!(evs[0].data.as_deref(), Some("{\"x\":1}"));
            assert_eq!(&evs[0].raw[..], b"event: a\r\ndata: {\"x\":1}\r\n\r\n");
            assert!(!evs[1].is_event());
            assert_eq!(evs[2].data.as_deref(), Some("one\ntwo"));
            assert_eq!(evs[3].data.as_deref(), Some("[DONE]"));
            let joined: Vec<u8> = evs.iter().flat_map(|e| e.raw.to_vec()).collect();
            assert_eq!(joined, text.to_vec());
        }
    }

    #[test]
    fn byte_by_byte_and_bare_cr() {
        let text = b"data:a\r\rdata: b\n\n";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        let (evs, rest) = parse_all(&chunks);
        assert!(rest.is_none());
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].data.as_deref(), Some("a"));
        assert_eq!(evs[1].data.as_deref(), Some("b"));
    }

    #[test]
    fn unfinished_event_is_returned_raw() {
        let (evs, rest) = parse_all(&[b"data: x\n\ndata: half"]);
        assert_eq!(evs.len(), 1);
        assert_eq!(&rest.unwrap().raw[..], b"data: half");
    }

    #[test]
    fn build_frames_multiline_data() {
        let e = SseEvent::build(Some("error"), "a\nb");
        assert_eq!(&e.raw[..], b"event: error\ndata: a\ndata: b\n\n");
        let (evs, _) = parse_all(&[&e.raw]);
        assert_eq!(evs[0], e);
    }
}
