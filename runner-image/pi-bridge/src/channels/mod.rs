//! The non-agent channels of the mux: files, terminal, hstry.

pub mod files;
pub mod hstry;
pub mod terminal;
