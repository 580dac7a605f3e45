//! Screen encoding benchmark over the frame corpus (filled in with the encoder).

fn main() {}
