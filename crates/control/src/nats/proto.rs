//! The NATS client protocol on the wire: parsing what the server sends (`INFO`, `MSG`,
//! `PING`, `PONG`, `+OK`, `-ERR`) from a byte buffer, and encoding what the client sends.
//! Operations are case-insensitive and lines end in CRLF (a bare LF is accepted). Every size
//! is capped before anything is buffered for it, and malformed bytes are an error, never a
//! panic.

use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Longest control line accepted (an `INFO` of a large cluster fits comfortably).
pub const MAX_CONTROL_LINE: usize = 16 * 1024;
/// Largest message payload accepted from the server, whatever its `max_payload` says.
pub const MAX_INBOUND_PAYLOAD: usize = 8 * 1024 * 1024;
/// Longest subject accepted in either direction.
pub const MAX_SUBJECT: usize = 1024;

/// The server's `INFO` (only the fields Shakedown uses; the rest are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ServerInfo {
    #[serde(default)]
    pub server_id: String,
    #[serde(default)]
    pub server_name: String,
    #[serde(default)]
    pub version: String,
    /// Largest payload the server accepts from a client (0: not announced).
    #[serde(default)]
    pub max_payload: i64,
    #[serde(default)]
    pub auth_required: bool,
    #[serde(default)]
    pub tls_required: bool,
}

/// A message delivered on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub sid: u64,
    /// Where the publisher wants an answer (request/reply).
    pub reply: Option<String>,
    pub payload: Bytes,
}

/// One operation from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    Info(Box<ServerInfo>),
    Msg(Message),
    Ping,
    Pong,
    Ok,
    Err(String),
}

/// What is wrong with the bytes the server sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("a line longer than {max} bytes without an end of line")]
    LineTooLong { max: usize },
    #[error("`{0}`, which is no NATS operation")]
    UnknownOp(String),
    #[error("a malformed {op}: {detail}")]
    Malformed { op: &'static str, detail: String },
    #[error("a message of {len} bytes, over the {max}-byte cap")]
    PayloadTooLarge { len: usize, max: usize },
}

/// Up to 60 bytes of `b`, with anything unprintable escaped, for error messages.
pub fn printable(b: &[u8]) -> String {
    let cut = &b[..b.len().min(60)];
    let mut s: String = cut.escape_ascii().to_string();
    if b.len() > cut.len() {
        s.push('…');
    }
    s
}

fn malformed(op: &'static str, detail: impl Into<String>) -> ProtoError {
    ProtoError::Malformed {
        op,
        detail: detail.into(),
    }
}

/// Parses one operation from the front of `buf`, consuming it; `Ok(None)` when more bytes
/// are needed. After an error the connection must be dropped (the stream cannot be
/// resynchronised).
pub fn parse(buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_CONTROL_LINE {
            return Err(ProtoError::LineTooLong {
                max: MAX_CONTROL_LINE,
            });
        }
        return Ok(None);
    };
    if nl > MAX_CONTROL_LINE {
        return Err(ProtoError::LineTooLong {
            max: MAX_CONTROL_LINE,
        });
    }
    let line_len = nl + 1;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let (op, args) = match line.iter().position(|b| *b == b' ' || *b == b'\t') {
        Some(i) => (&line[..i], trim(&line[i + 1..])),
        None => (line, &[][..]),
    };
    let op_upper = op.to_ascii_uppercase();
    let parsed = match op_upper.as_slice() {
        b"PING" => ServerOp::Ping,
        b"PONG" => ServerOp::Pong,
        b"+OK" => ServerOp::Ok,
        b"-ERR" => {
            let text = String::from_utf8_lossy(args);
            ServerOp::Err(text.trim().trim_matches('\'').to_string())
        }
        b"INFO" => {
            let info: ServerInfo = serde_json::from_slice(args)
                .map_err(|e| malformed("INFO", format!("its JSON does not parse ({e})")))?;
            ServerOp::Info(Box::new(info))
        }
        b"MSG" => {
            let header = parse_msg_header(args)?;
            let total = line_len + header.len + 2;
            if buf.len() < total {
                // Reserve once for the whole payload instead of growing per read.
                buf.reserve(total - buf.len());
                return Ok(None);
            }
            let end = &buf[line_len + header.len..total];
            if end != b"\r\n" {
                return Err(malformed(
                    "MSG",
                    format!(
                        "its {}-byte payload is followed by `{}` instead of CRLF (wrong byte count)",
                        header.len,
                        printable(end)
                    ),
                ));
            }
            buf.advance(line_len);
            let payload = buf.split_to(header.len).freeze();
            buf.advance(2);
            return Ok(Some(ServerOp::Msg(Message {
                subject: header.subject,
                sid: header.sid,
                reply: header.reply,
                payload,
            })));
        }
        b"HMSG" => {
            return Err(malformed(
                "HMSG",
                "a message with headers although the client did not ask for headers",
            ));
        }
        _ => return Err(ProtoError::UnknownOp(printable(line))),
    };
    buf.advance(line_len);
    Ok(Some(parsed))
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

struct MsgHeader {
    subject: String,
    sid: u64,
    reply: Option<String>,
    len: usize,
}

/// `<subject> <sid> [reply-to] <#bytes>`.
fn parse_msg_header(args: &[u8]) -> Result<MsgHeader, ProtoError> {
    let text =
        std::str::from_utf8(args).map_err(|_| malformed("MSG", "a header that is not UTF-8"))?;
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    let (subject, sid, reply, len) = match parts.as_slice() {
        [s, sid, len] => (*s, *sid, None, *len),
        [s, sid, reply, len] => (*s, *sid, Some(*reply), *len),
        _ => {
            return Err(malformed(
                "MSG",
                format!(
                    "`MSG {}`: expected <subject> <sid> [reply-to] <#bytes>",
                    printable(args)
                ),
            ));
        }
    };
    if subject.len() > MAX_SUBJECT {
        return Err(malformed(
            "MSG",
            format!("a subject over {MAX_SUBJECT} bytes"),
        ));
    }
    let sid = sid.parse::<u64>().map_err(|_| {
        malformed(
            "MSG",
            format!(
                "the subscription id `{}` is not a number",
                printable(sid.as_bytes())
            ),
        )
    })?;
    let len = len.parse::<usize>().map_err(|_| {
        malformed(
            "MSG",
            format!(
                "the byte count `{}` is not a number",
                printable(len.as_bytes())
            ),
        )
    })?;
    if len > MAX_INBOUND_PAYLOAD {
        return Err(ProtoError::PayloadTooLarge {
            len,
            max: MAX_INBOUND_PAYLOAD,
        });
    }
    Ok(MsgHeader {
        subject: subject.to_string(),
        sid,
        reply: reply.map(str::to_string),
        len,
    })
}

/// The fields of the client's `CONNECT`.
#[derive(Debug, Clone, Serialize)]
pub struct Connect<'a> {
    pub verbose: bool,
    pub pedantic: bool,
    pub tls_required: bool,
    pub name: &'a str,
    pub lang: &'a str,
    pub version: &'a str,
    pub protocol: u8,
    /// Headers are not used: the server then never sends `HMSG`.
    pub headers: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<&'a str>,
}

/// `CONNECT {json}\r\n`.
pub fn encode_connect(c: &Connect<'_>, out: &mut BytesMut) {
    out.extend_from_slice(b"CONNECT ");
    // Serialising a struct of strings and bools cannot fail.
    out.extend_from_slice(&serde_json::to_vec(c).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
}

/// `PUB <subject> [reply-to] <#bytes>\r\n<payload>\r\n`.
pub fn encode_pub(subject: &str, reply: Option<&str>, payload: &[u8], out: &mut BytesMut) {
    out.reserve(subject.len() + payload.len() + 32);
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject.as_bytes());
    if let Some(r) = reply {
        out.extend_from_slice(b" ");
        out.extend_from_slice(r.as_bytes());
    }
    out.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// `SUB <subject> <sid>\r\n`.
pub fn encode_sub(subject: &str, sid: u64, out: &mut BytesMut) {
    out.extend_from_slice(format!("SUB {subject} {sid}\r\n").as_bytes());
}

/// `PING\r\n`.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`.
pub const PONG: &[u8] = b"PONG\r\n";

/// Checks a subject: non-empty dot-separated tokens without whitespace; `*` and `>` only
/// as whole tokens, `>` only last, and only where `wildcards` are allowed (subscriptions).
pub fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() {
        return Err("it is empty".into());
    }
    if subject.len() > MAX_SUBJECT {
        return Err(format!("it is longer than {MAX_SUBJECT} bytes"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err("it has an empty token (two dots in a row, or a dot at an end)".into());
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("it contains whitespace or control characters".into());
        }
        let wild = *t == "*" || *t == ">";
        if wild && !wildcards {
            return Err("wildcards (`*`, `>`) are only allowed when subscribing".into());
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Err("`>` must be the last token".into());
        }
        if !wild && t.contains(['*', '>']) {
            return Err("`*` and `>` must be whole tokens".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(bytes: &[u8]) -> Result<Vec<ServerOp>, ProtoError> {
        let mut buf = BytesMut::from(bytes);
        let mut ops = Vec::new();
        while let Some(op) = parse(&mut buf)? {
            ops.push(op);
        }
        Ok(ops)
    }

    #[test]
    fn parses_every_server_operation() {
        let ops = all(b"INFO {\"server_id\":\"S\",\"version\":\"2.9.10\",\"max_payload\":1048576,\"auth_required\":true}\r\n\
            +OK\r\nping\r\nPONG\n-ERR 'Authorization Violation'\r\n\
            MSG a.b 7 5\r\nhello\r\nMSG\ta.b  8 _INBOX.x 0\r\n\r\nMSG x 1 4\r\na\r\nb\r\n")
        .unwrap();
        assert_eq!(
            ops[0],
            ServerOp::Info(Box::new(ServerInfo {
                server_id: "S".into(),
                version: "2.9.10".into(),
                max_payload: 1_048_576,
                auth_required: true,
                ..ServerInfo::default()
            }))
        );
        assert_eq!(ops[1..4], [ServerOp::Ok, ServerOp::Ping, ServerOp::Pong]);
        assert_eq!(ops[4], ServerOp::Err("Authorization Violation".into()));
        assert_eq!(
            ops[5],
            ServerOp::Msg(Message {
                subject: "a.b".into(),
                sid: 7,
                reply: None,
                payload: Bytes::from_static(b"hello")
            })
        );
        let ServerOp::Msg(m) = &ops[6] else { panic!() };
        assert_eq!(
            (m.sid, m.reply.as_deref(), m.payload.len()),
            (8, Some("_INBOX.x"), 0)
        );
        // A payload may itself contain CRLF: the byte count decides.
        let ServerOp::Msg(m) = &ops[7] else { panic!() };
        assert_eq!(&m.payload[..], b"a\r\nb");
    }

    #[test]
    fn waits_for_a_whole_message() {
        let full = b"MSG s 1 10\r\n0123456789\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(parse(&mut buf).unwrap(), None, "cut at {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed at {cut}");
        }
        assert!(matches!(all(full).unwrap()[0], ServerOp::Msg(_)));
    }

    #[test]
    fn malformed_bytes_are_clear_errors() {
        for (bytes, want) in [
            (
                &b"HTTP/1.1 400 Bad Request\r\n"[..],
                "`HTTP/1.1 400 Bad Request`, which is no NATS operation",
            ),
            (b"\x00\xff\x13garbage\n", "which is no NATS operation"),
            (b"INFO {not json}\r\n", "INFO: its JSON does not parse"),
            (b"MSG a 1\r\n", "expected <subject> <sid>"),
            (b"MSG a x 1\r\nz\r\n", "subscription id `x`"),
            (b"MSG a 1 -3\r\n", "byte count `-3`"),
            (
                b"MSG a 1 3\r\nabcdef\r\n",
                "instead of CRLF (wrong byte count)",
            ),
            (b"MSG a 1 99999999999\r\n", "over the 8388608-byte cap"),
            (b"HMSG a 1 2 2\r\n\r\n\r\n", "did not ask for headers"),
        ] {
            let e = all(bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{}: {e}", printable(bytes));
        }
        let long = vec![b'A'; MAX_CONTROL_LINE + 1];
        assert_eq!(
            all(&long).unwrap_err(),
            ProtoError::LineTooLong {
                max: MAX_CONTROL_LINE
            }
        );
    }

    #[test]
    fn encodes_client_operations() {
        let mut out = BytesMut::new();
        encode_pub("chaos.injection", None, b"{}", &mut out);
        encode_pub("a", Some("r"), b"", &mut out);
        encode_sub("guardian.halt_chaos", 3, &mut out);
        assert_eq!(
            &out[..],
            b"PUB chaos.injection 2\r\n{}\r\nPUB a r 0\r\n\r\nSUB guardian.halt_chaos 3\r\n"
        );
        let mut out = BytesMut::new();
        encode_connect(
            &Connect {
                verbose: false,
                pedantic: false,
                tls_required: false,
                name: "n",
                lang: "rust",
                version: "0",
                protocol: 1,
                headers: false,
                user: Some("u"),
                pass: Some("p"),
                auth_token: None,
            },
            &mut out,
        );
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.starts_with("CONNECT {") && text.ends_with("}\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\"user\":\"u\"") && !text.contains("auth_token"),
            "{text}"
        );
    }

    #[test]
    fn subjects_are_checked() {
        assert!(check_subject("chaos.campaign.started", false).is_ok());
        assert!(check_subject("chaos.>", true).is_ok());
        assert!(check_subject("a.*.c", true).is_ok());
        for (s, w) in [
            ("", true),
            ("a..b", true),
            ("a.", true),
            ("a b", true),
            ("a.>.b", true),
            ("chaos.>", false),
            ("a*", true),
        ] {
            assert!(check_subject(s, w).is_err(), "{s:?}");
        }
    }

    proptest! {
        /// Whatever a server sends, parsing ends in operations, a wait or an error: no panic,
        /// and never more consumed than there was.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&bytes[..]);
            for _ in 0..600 {
                let before = buf.len();
                match parse(&mut buf) {
                    Ok(Some(_)) => prop_assert!(buf.len() < before),
                    Ok(None) | Err(_) => break,
                }
            }
        }

        /// Any well-formed MSG survives being split into arbitrary chunks.
        #[test]
        fn messages_parse_across_any_split(payload in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..260) {
            let mut wire = format!("MSG s.t 9 {}\r\n", payload.len()).into_bytes();
            wire.extend_from_slice(&payload);
            wire.extend_from_slice(b"\r\n");
            let cut = cut.min(wire.len());
            let mut buf = BytesMut::from(&wire[..cut]);
            let first = parse(&mut buf).unwrap();
            if cut < wire.len() {
                prop_assert!(first.is_none());
                buf.extend_from_slice(&wire[cut..]);
            } else {
                prop_assert!(first.is_some());
                return Ok(());
            }
            let Some(ServerOp::Msg(m)) = parse(&mut buf).unwrap() else { panic!("no message") };
            prop_assert_eq!(&m.payload[..], &payload[..]);
            prop_assert!(buf.is_empty());
        }
    }
}
