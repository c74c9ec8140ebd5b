//! The non-agent channels of the mux: files, terminal, hstry, browser.

pub mod browser;
pub mod files;
pub mod hstry;
pub mod terminal;
