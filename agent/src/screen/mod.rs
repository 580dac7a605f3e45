//! The caller's screen: capturing it (`capture`, one backend per platform behind
//! [`capture::ScreenSource`]), encoding what changed into the frames of
//! `hotline_protocol::screen` (`encode`), and injecting the analyst's input (`input`).

pub mod capture;
pub mod encode;
mod frame;
pub mod input;

pub use frame::{Frame, FrameError};
