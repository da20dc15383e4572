//! Property tests of the framing and messages: arbitrary bytes never panic the codec or any
//! decoder, and every message encodes and decodes back to itself through the codec.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use shakedown_proxy::pg::codec::{Direction, FrameLimits, decode_frame, decode_startup};
use shakedown_proxy::pg::messages::*;
use shakedown_proxy::pg::{Frame, StartupFrame};

fn limits() -> FrameLimits {
    FrameLimits {
        max_message: 4096,
        max_statement: 1024,
        max_startup: 10_000,
    }
}

/// Bytes without NUL: what a protocol string may hold.
fn cstr() -> impl Strategy<Value = Bytes> {
    vec(1u8..=255, 0..24).prop_map(Bytes::from)
}

fn raw() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..48).prop_map(Bytes::from)
}

fn nullable() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(raw())
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![Just(Target::Statement), Just(Target::Portal)]
}

fn fields() -> impl Strategy<Value = ErrorFields> {
    vec((1u8..=255, cstr()), 0..6).prop_map(|fields| ErrorFields { fields })
}

/// Through the codec and back: the frame is cut exactly, the message decodes to itself.
fn round_trip<M: Message + PartialEq + std::fmt::Debug>(msg: M, direction: Direction) {
    let frame = msg.to_frame();
    let mut buf = BytesMut::from(&frame.as_bytes()[..]);
    buf.extend_from_slice(b"trailing");
    let cut = decode_frame(&mut buf, direction, &FrameLimits::default())
        .expect("valid frame")
        .expect("complete frame");
    assert_eq!(&buf[..], b"trailing");
    assert_eq!(cut, frame);
    assert_eq!(M::decode(&cut).expect("decodes"), msg);
}

fn startup_round_trip(frame: StartupFrame) -> StartupFrame {
    let mut buf = BytesMut::from(&frame.as_bytes()[..]);
    let cut = decode_startup(&mut buf, &FrameLimits::default())
        .expect("valid packet")
        .expect("complete packet");
    assert!(buf.is_empty());
    assert_eq!(cut, frame);
    cut
}

/// Decode `body` as every message type; only errors are allowed, never panics.
fn decode_everything(body: Bytes) {
    let _ = Authentication::decode_body(body.clone());
    let _ = BackendKeyData::decode_body(body.clone());
    let _ = Bind::decode_body(body.clone());
    let _ = Bind::names(body.clone());
    let _ = BindComplete::decode_body(body.clone());
    let _ = Close::decode_body(body.clone());
    let _ = CloseComplete::decode_body(body.clone());
    let _ = CommandComplete::decode_body(body.clone()).map(|c| (c.rows(), c.command()));
    let _ = CopyBothResponse::decode_body(body.clone());
    let _ = CopyData::decode_body(body.clone());
    let _ = CopyDone::decode_body(body.clone());
    let _ = CopyFail::decode_body(body.clone());
    let _ = CopyInResponse::decode_body(body.clone());
    let _ = CopyOutResponse::decode_body(body.clone());
    let _ = DataRow::decode_body(body.clone());
    let _ = Describe::decode_body(body.clone());
    let _ = EmptyQueryResponse::decode_body(body.clone());
    let _ = ErrorResponse::decode_body(body.clone())
        .map(|e| (e.sqlstate().is_some(), e.message().is_some()));
    let _ = Execute::decode_body(body.clone());
    let _ = Flush::decode_body(body.clone());
    let _ = FunctionCall::decode_body(body.clone());
    let _ = FunctionCall::oid(body.clone());
    let _ = FunctionCallResponse::decode_body(body.clone());
    let _ = NegotiateProtocolVersion::decode_body(body.clone());
    let _ = NoData::decode_body(body.clone());
    let _ = NoticeResponse::decode_body(body.clone());
    let _ = NotificationResponse::decode_body(body.clone());
    let _ = ParameterDescription::decode_body(body.clone());
    let _ = ParameterStatus::decode_body(body.clone());
    let _ = Parse::decode_body(body.clone());
    let _ = ParseComplete::decode_body(body.clone());
    let _ = PasswordMessage::decode_body(body.clone());
    let _ = PortalSuspended::decode_body(body.clone());
    let _ = Query::decode_body(body.clone());
    let _ = ReadyForQuery::decode_body(body.clone());
    let _ = RowDescription::decode_body(body.clone());
    let _ = Sync::decode_body(body.clone());
    let _ = Terminate::decode_body(body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_codec(bytes in vec(any::<u8>(), 0..256)) {
        for direction in [Direction::Frontend, Direction::Backend] {
            let mut buf = BytesMut::from(&bytes[..]);
            // Each iteration consumes a frame or stops: bounded by the input length.
            for _ in 0..=bytes.len() {
                match decode_frame(&mut buf, direction, &limits()) {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.wire_len() >= Frame::HEADER_LEN);
                        decode_everything(frame.body());
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(packet)) = decode_startup(&mut buf, &limits()) {
            let _ = StartupMessage::decode(&packet);
            let _ = CancelRequest::decode(&packet);
            let _ = SslRequest::decode(&packet);
            let _ = GssEncRequest::decode(&packet);
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_the_decoders(body in vec(any::<u8>(), 0..128)) {
        decode_everything(Bytes::from(body));
    }

    #[test]
    fn frontend_messages_round_trip(
        a in cstr(), b in cstr(), types in vec(any::<u32>(), 0..5),
        formats in vec(any::<i16>(), 0..4), params in vec(nullable(), 0..5),
        results in vec(any::<i16>(), 0..4), t in target(), rows in any::<i32>(), data in raw(),
    ) {
        round_trip(Query { sql: a.clone() }, Direction::Frontend);
        round_trip(Parse { name: a.clone(), sql: b.clone(), param_types: types }, Direction::Frontend);
        round_trip(Bind {
            portal: a.clone(), statement: b.clone(),
            param_formats: formats, params, result_formats: results.clone(),
        }, Direction::Frontend);
        round_trip(Describe { target: t, name: a.clone() }, Direction::Frontend);
        round_trip(Close { target: t, name: b.clone() }, Direction::Frontend);
        round_trip(Execute { portal: a.clone(), max_rows: rows }, Direction::Frontend);
        let call = FunctionCall {
            oid: rows as u32, arg_formats: results.clone(), args: vec![Some(data.clone()), None],
            result_format: rows as i16,
        };
        prop_assert_eq!(FunctionCall::oid(call.to_frame().body())?, rows as u32);
        round_trip(call, Direction::Frontend);
        round_trip(CopyData { data: data.clone() }, Direction::Frontend);
        round_trip(CopyFail { message: b }, Direction::Frontend);
        round_trip(PasswordMessage { body: data }, Direction::Frontend);
        round_trip(Sync, Direction::Frontend);
        round_trip(Flush, Direction::Frontend);
        round_trip(CopyDone, Direction::Frontend);
        round_trip(Terminate, Direction::Frontend);
    }

    #[test]
    fn startup_packets_round_trip(
        params in vec((vec(1u8..=255, 1..12), vec(1u8..=255, 0..12)), 0..5),
        minor in 0u32..4, pid in any::<i32>(), secret in vec(any::<u8>(), 4..32),
    ) {
        let msg = StartupMessage { protocol: (3 << 16) | minor, params: params
            .into_iter().map(|(k, v)| (Bytes::from(k), Bytes::from(v))).collect() };
        prop_assert_eq!(StartupMessage::decode(&startup_round_trip(msg.to_frame()))?, msg);
        let cancel = CancelRequest { pid, secret: Bytes::from(secret) };
        prop_assert_eq!(CancelRequest::decode(&startup_round_trip(cancel.to_frame()))?, cancel);
        prop_assert_eq!(SslRequest::decode(&startup_round_trip(SslRequest.to_frame()))?, SslRequest);
        prop_assert_eq!(GssEncRequest::decode(&startup_round_trip(GssEncRequest.to_frame()))?, GssEncRequest);
    }

    #[test]
    fn backend_messages_round_trip(
        a in cstr(), b in cstr(), f in fields(), pid in any::<i32>(), n in any::<i32>(),
        secret in vec(any::<u8>(), 1..32), values in vec(nullable(), 0..5),
        types in vec(any::<u32>(), 0..5), cols in vec(any::<i16>(), 0..5), overall in any::<i8>(),
        salt in any::<[u8; 4]>(), data in raw(), names in vec(cstr(), 0..4),
        code in any::<i32>().prop_filter("not a known auth code", |c| ![0, 3, 5, 10, 11, 12].contains(c)),
        status in prop_oneof![
            Just(TransactionStatus::Idle), Just(TransactionStatus::InTransaction),
            Just(TransactionStatus::Failed)
        ],
        field in (any::<u32>(), any::<i16>(), any::<u32>(), any::<i16>(), any::<i32>(), any::<i16>()),
    ) {
        let mechanisms: Vec<Bytes> = names.iter().filter(|m| !m.is_empty()).cloned().collect();
        for auth in [
            Authentication::Ok, Authentication::CleartextPassword,
            Authentication::Md5Password { salt },
            Authentication::Sasl { mechanisms },
            Authentication::SaslContinue { data: data.clone() },
            Authentication::SaslFinal { data: data.clone() },
            Authentication::Other { code, data: data.clone() },
        ] {
            round_trip(auth, Direction::Backend);
        }
        round_trip(ParameterStatus { name: a.clone(), value: b.clone() }, Direction::Backend);
        round_trip(BackendKeyData { pid, secret: Bytes::from(secret) }, Direction::Backend);
        round_trip(ReadyForQuery { status }, Direction::Backend);
        round_trip(RowDescription { fields: vec![FieldDescription {
            name: a.clone(), table_oid: field.0, column: field.1, type_oid: field.2,
            type_size: field.3, type_modifier: field.4, format: field.5,
        }] }, Direction::Backend);
        round_trip(DataRow { values }, Direction::Backend);
        round_trip(FunctionCallResponse { value: Some(data.clone()) }, Direction::Backend);
        round_trip(FunctionCallResponse { value: None }, Direction::Backend);
        round_trip(CommandComplete { tag: a.clone() }, Direction::Backend);
        round_trip(ErrorResponse { fields: f.clone() }, Direction::Backend);
        round_trip(NoticeResponse { fields: f }, Direction::Backend);
        round_trip(ParseComplete, Direction::Backend);
        round_trip(BindComplete, Direction::Backend);
        round_trip(CloseComplete, Direction::Backend);
        round_trip(NoData, Direction::Backend);
        round_trip(PortalSuspended, Direction::Backend);
        round_trip(EmptyQueryResponse, Direction::Backend);
        let format = CopyFormat { overall, columns: cols };
        round_trip(CopyInResponse { format: format.clone() }, Direction::Backend);
        round_trip(CopyOutResponse { format: format.clone() }, Direction::Backend);
        round_trip(CopyBothResponse { format }, Direction::Backend);
        round_trip(NotificationResponse { pid, channel: a, payload: b }, Direction::Backend);
        round_trip(ParameterDescription { types }, Direction::Backend);
        round_trip(NegotiateProtocolVersion { newest_minor: n, unrecognized: names }, Direction::Backend);
    }

    #[test]
    fn synthesised_errors_carry_what_they_were_built_with(
        state in "[0-9A-Z]{5}", message in "[^\u{0}]{0,40}", detail in "[^\u{0}]{0,40}",
    ) {
        let e = ErrorResponse::error(&state, &message).with_detail(&detail);
        let back = ErrorResponse::decode(&e.to_frame())?;
        let text = |v: Option<std::borrow::Cow<'_, str>>| v.map(|c| c.into_owned());
        prop_assert_eq!(text(back.sqlstate()), Some(state));
        prop_assert_eq!(text(back.message()), Some(message));
        prop_assert_eq!(text(back.fields.detail()), Some(detail));
        prop_assert_eq!(text(back.fields.severity()), Some("ERROR".to_string()));
    }
}
