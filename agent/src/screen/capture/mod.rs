//! Screen capture behind one interface per platform.
