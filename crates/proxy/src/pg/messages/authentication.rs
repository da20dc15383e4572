//! Authentication*: the server's authentication requests and its final AuthenticationOk. The
//! proxy relays them untouched; decoding is for tests and for telling success apart.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::AUTHENTICATION;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// One authentication message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// 0: authentication succeeded.
    Ok,
    /// 3: send the password in clear text.
    CleartextPassword,
    /// 5: send `md5(md5(password + user) + salt)`.
    Md5Password { salt: [u8; 4] },
    /// 10: start SASL with one of these mechanisms (e.g. `SCRAM-SHA-256`).
    Sasl { mechanisms: Vec<Bytes> },
    /// 11: a SASL challenge.
    SaslContinue { data: Bytes },
    /// 12: the SASL outcome (server signature).
    SaslFinal { data: Bytes },
    /// Any other request (Kerberos, GSS, SSPI…), kept raw.
    Other { code: i32, data: Bytes },
}

impl Message for Authentication {
    const TAG: u8 = AUTHENTICATION;
    const NAME: &'static str = "Authentication";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let msg = match r.i32()? {
            0 => Self::Ok,
            3 => Self::CleartextPassword,
            5 => {
                let s = r.bytes(4)?;
                Self::Md5Password {
                    salt: [s[0], s[1], s[2], s[3]],
                }
            }
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let m = r.cstr()?;
                    if m.is_empty() {
                        break;
                    }
                    mechanisms.push(m);
                }
                Self::Sasl { mechanisms }
            }
            11 => Self::SaslContinue { data: r.rest() },
            12 => Self::SaslFinal { data: r.rest() },
            code => Self::Other {
                code,
                data: r.rest(),
            },
        };
        r.finish()?;
        Ok(msg)
    }

    fn encode_body(&self, out: &mut BytesMut) {
        match self {
            Self::Ok => out.put_i32(0),
            Self::CleartextPassword => out.put_i32(3),
            Self::Md5Password { salt } => {
                out.put_i32(5);
                out.put_slice(salt);
            }
            Self::Sasl { mechanisms } => {
                out.put_i32(10);
                for m in mechanisms {
                    put_cstr(out, m);
                }
                out.put_u8(0);
            }
            Self::SaslContinue { data } => {
                out.put_i32(11);
                out.put_slice(data);
            }
            Self::SaslFinal { data } => {
                out.put_i32(12);
                out.put_slice(data);
            }
            Self::Other { code, data } => {
                out.put_i32(*code);
                out.put_slice(data);
            }
        }
    }
}
