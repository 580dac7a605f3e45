//! The caller's screen: capturing it (`capture`, one backend per platform behind
//! [`capture::ScreenSource`]), encoding what changed into the frames of
//! `hotline_protocol::screen` (`encode`), injecting the analyst's input (`input`), and
//! reading the caller's pointer (`cursor`, behind [`cursor::CursorSource`]).

pub mod capture;
pub mod cursor;
pub mod encode;
mod frame;
pub mod input;

pub use frame::{Frame, FrameError};
