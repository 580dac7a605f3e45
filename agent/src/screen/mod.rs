//! The remote screen: what the analyst sees of the caller's desktop and how the analyst's
//! input reaches it.

pub mod input;
