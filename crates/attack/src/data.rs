//! Data attacks: malformed, null and type-confused inputs. [`probe`] builds their requests and
//! [`verdict`] sends them and judges the answers (4xx or handled, never 5xx or a crash).

pub mod malformed_data;
pub mod null_injection;
pub mod probe;
#[cfg(test)]
mod test_ctx;
pub mod type_confusion;
pub mod verdict;
