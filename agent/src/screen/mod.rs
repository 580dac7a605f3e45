//! The caller's screen: capturing it (`capture`, one backend per platform behind
//! [`capture::ScreenSource`]) and encoding what changed into the frames of
//! `hotline_protocol::screen` (`encode`).

pub mod capture;
pub mod encode;
mod frame;

pub use frame::{Frame, FrameError};
