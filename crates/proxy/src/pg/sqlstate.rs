//! SQLSTATE codes the proxy and its interceptors answer with. Clients branch on these, so a
//! chaos action or a policy block must use the code a real server would.

/// 42501: the statement was refused by policy (what a GRANT-less table access gives).
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// 57014: the statement was cancelled (statement_timeout, pg_cancel_backend).
pub const QUERY_CANCELED: &str = "57014";
/// 53100: no space left on device.
pub const DISK_FULL: &str = "53100";
/// 53200: out of memory.
pub const OUT_OF_MEMORY: &str = "53200";
/// 53300: too many connections.
pub const TOO_MANY_CONNECTIONS: &str = "53300";
/// 54000: a program limit (here: the statement size cap) was exceeded.
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
/// 57P01: the server (here: the proxy) is shutting down.
pub const ADMIN_SHUTDOWN: &str = "57P01";
/// 08006: connection failure (the proxy cannot reach its upstream).
pub const CONNECTION_FAILURE: &str = "08006";
/// 08P01: protocol violation.
pub const PROTOCOL_VIOLATION: &str = "08P01";
/// 0A000: feature not supported (e.g. an unknown protocol version).
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// 25P02: the current transaction is aborted.
pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
