//! Zero-copy forwarding for a direction with no toxic: Linux `splice(2)` moves the bytes
//! socket → pipe → socket inside the kernel, so they are never copied through user space
//! (the buffered path copies every byte twice, which bounds its throughput).
//!
//! One cycle: splice what the source socket has into the empty pipe, then splice the pipe out
//! to the destination until it is empty again. Splicing in only while the pipe is empty keeps
//! tokio's readiness honest: a would-block from an empty pipe can only mean the socket has
//! nothing, and a would-block while the pipe holds data can only mean the destination is
//! full. Between cycles (and while waiting for data) the toxic set is checked; when a toxic
//! starts acting on this direction the pipe is already drained, so the buffered path takes
//! over with no byte lost or reordered.

use std::io;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use nix::unistd::{pipe2, read};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use super::{Conn, End, Written, write_all};
use crate::tcp::model::Stream;

/// Pipe capacity asked for: more bytes per pair of splices than the 64 KiB default. Pages
/// are only used while data sits in the pipe, so an idle link costs nothing for it.
const PIPE_SIZE: usize = 256 * 1024;
/// Capacity assumed when the kernel does not say (the Linux default).
const PIPE_DEFAULT: usize = 64 * 1024;

/// Move pages rather than copy them; never block on the pipe (the sockets are non-blocking).
fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

/// The kernel pipe one direction splices through, and how many bytes it holds now.
pub(super) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    held: usize,
}

impl Pipe {
    /// A non-blocking, close-on-exec pipe, enlarged to [`PIPE_SIZE`] when the limits allow.
    pub(super) fn new() -> io::Result<Self> {
        let (read, write) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let asked = i32::try_from(PIPE_SIZE).unwrap_or(i32::MAX);
        // Refused (per-user pipe limits): keep the default size, it only costs speed.
        let capacity = fcntl(&write, FcntlArg::F_SETPIPE_SZ(asked))
            .or_else(|_| fcntl(&write, FcntlArg::F_GETPIPE_SZ))
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(PIPE_DEFAULT);
        Ok(Self {
            read,
            write,
            capacity,
            held: 0,
        })
    }
}

/// Splice cannot be used for these sockets here (old kernel, non-Linux emulation, a socket
/// type without splice support): fall back to the buffered path.
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP)
    )
}

/// Forwards `src` → `dst` with splice while no toxic acts on `stream`; returns why it
/// stopped. On every return but [`End::Stop`] the pipe is empty.
pub(super) async fn run(
    conn: &Conn,
    src: &OwnedReadHalf,
    dst: &OwnedWriteHalf,
    stream: Stream,
    changes: &mut watch::Receiver<u64>,
    forwarded: &mut u64,
    pipe: &mut Pipe,
) -> End {
    let from: &TcpStream = src.as_ref();
    // Set when a wait saw the toxic set change (that wait already marked the change seen).
    let mut changed = false;
    loop {
        if conn.token.is_cancelled() {
            return End::Stop;
        }
        // The pipe is empty here: the right moment to hand over to the buffered path.
        if changed || changes.has_changed().unwrap_or(false) {
            changed = false;
            changes.borrow_and_update();
            if !conn.active(stream).is_empty() {
                return End::Toxic;
            }
        }
        let spliced = from.try_io(Interest::READABLE, || {
            splice(from, None, &pipe.write, None, pipe.capacity, flags()).map_err(io::Error::from)
        });
        match spliced {
            Ok(0) => return End::Eof,
            Ok(n) => pipe.held = n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::select! {
                    biased;
                    _ = conn.token.cancelled() => return End::Stop,
                    // Loop: the check at the top decides whether a toxic now applies.
                    seen = changes.changed() => {
                        if seen.is_err() {
                            return End::Stop;
                        }
                        changed = true;
                    }
                    ready = from.readable() => if ready.is_err() {
                        return End::Eof;
                    },
                }
                continue;
            }
            Err(e) if unsupported(&e) => return End::Unsupported,
            // A read error ends the direction like EOF, as on the buffered path.
            Err(_) => return End::Eof,
        }
        match drain(conn, dst, pipe, forwarded).await {
            Written::All => {}
            Written::Cancelled => return End::Stop,
            Written::Failed => {
                conn.close(false);
                return End::Stop;
            }
        }
    }
}

/// Splices everything the pipe holds out to `dst`, waiting for room as needed.
async fn drain(conn: &Conn, dst: &OwnedWriteHalf, pipe: &mut Pipe, forwarded: &mut u64) -> Written {
    let to: &TcpStream = dst.as_ref();
    while pipe.held > 0 {
        if conn.token.is_cancelled() {
            return Written::Cancelled;
        }
        let spliced = to.try_io(Interest::WRITABLE, || {
            splice(&pipe.read, None, to, None, pipe.held, flags()).map_err(io::Error::from)
        });
        match spliced {
            Ok(0) => return Written::Failed,
            Ok(n) => {
                pipe.held = pipe.held.saturating_sub(n);
                *forwarded += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let room = tokio::select! {
                    _ = conn.token.cancelled() => return Written::Cancelled,
                    r = to.writable() => r,
                };
                if room.is_err() {
                    return Written::Failed;
                }
            }
            // The destination takes no splice: copy what the pipe holds through user space.
            Err(e) if unsupported(&e) => return copy_out(conn, dst, pipe, forwarded).await,
            Err(_) => return Written::Failed,
        }
    }
    Written::All
}

/// Empties the pipe into `dst` with plain reads and writes (the fallback for a destination
/// that refuses splice), so the bytes already taken from the source are not lost.
async fn copy_out(
    conn: &Conn,
    dst: &OwnedWriteHalf,
    pipe: &mut Pipe,
    forwarded: &mut u64,
) -> Written {
    let mut buf = vec![0u8; pipe.held.min(pipe.capacity)];
    while pipe.held > 0 {
        // The pipe holds data, so this read does not block.
        let n = match read(&pipe.read, &mut buf) {
            Ok(0) | Err(_) => return Written::Failed,
            Ok(n) => n,
        };
        match write_all(conn, dst, &buf[..n]).await {
            Written::All => {}
            other => return other,
        }
        pipe.held = pipe.held.saturating_sub(n);
        *forwarded += n as u64;
    }
    Written::All
}
