//! The CLI's output layer: the one place that prints to standard output.

#![allow(clippy::print_stdout, reason = "this module is the CLI's output layer")]

/// Prints one line of command output.
pub fn line(text: &str) {
    println!("{text}");
}

/// Prints a command's failure to standard error.
#[allow(clippy::print_stderr, reason = "this module is the CLI's output layer")]
pub fn error(text: &str) {
    eprintln!("error: {text}");
}
