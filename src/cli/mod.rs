//! The `paystorm` command's handlers that are not a run: each parses
//! nothing (clap did), calls the library, prints, and returns the
//! documented exit code. `src/main.rs` only dispatches to them.

pub mod files;
pub mod run_dirs;

/// Exit code for bad input or usage.
pub const EXIT_INPUT: u8 = 4;
/// Exit code for a run that is invalid (DESIGN.md): it could not be carried
/// out as asked.
pub const EXIT_INVALID: u8 = 3;

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
