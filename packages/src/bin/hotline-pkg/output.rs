//! The command line's output layer: the only place that writes to stdout or stderr.

/// Prints one line of results to stdout.
#[allow(clippy::print_stdout, reason = "this is the CLI's output layer")]
pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// Prints an error and its causes to stderr, one per line.
#[allow(clippy::print_stderr, reason = "this is the CLI's output layer")]
pub(crate) fn error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
