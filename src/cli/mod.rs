//! The `paystorm` command's handlers that are not a run: each parses
//! nothing (clap did), calls the library, prints, and returns the
//! documented exit code. `src/main.rs` only dispatches to them.

pub mod cells;
pub mod files;
pub mod run_dirs;

pub use crate::exit_code::{INPUT as EXIT_INPUT, INVALID as EXIT_INVALID};

/// Writes to stdout; a closed pipe (`paystorm run | head`) is not an error
/// worth a panic, so write failures are ignored.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
}
