//! Helpers shared by the end-to-end tests: start a console and agents as real processes.
