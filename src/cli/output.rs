//! Everything the commands print to standard output goes through here, so
//! that a reader that went away (`| head -1`) ends the command quietly with
//! 0, as it does for other Unix tools, instead of a panic and 101.

use std::io::{ErrorKind, Write};

/// Writes `text` to standard output (see the module's doc for a closed pipe).
pub(super) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        gone(&e);
    }
}

/// [`print`] with a line end.
pub(super) fn println(text: &str) {
    print(&format!("{text}\n"));
}

/// Ends the process after a failed write to standard output: quietly with
/// 0 when the reader closed it, else naming the error with 1.
pub(super) fn gone(e: &std::io::Error) -> ! {
    if e.kind() == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(1);
}
