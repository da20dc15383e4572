//! Integration tests of the SQLite store on real files in temporary directories. One test
//! binary (modules below) so the crate links once.

mod access;
mod campaigns;
mod concurrency;
mod events;
mod fixtures;
mod open;
mod props;
mod rankings;
