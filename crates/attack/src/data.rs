//! Data attacks: malformed, null and type-confused inputs.

pub mod malformed_data;
pub mod null_injection;
pub mod type_confusion;
