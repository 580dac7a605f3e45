//! Signed packages and patches for Hotline: the package format, trust metadata in the roles of
//! The Update Framework, delta patches, safe unpacking and the install transaction. Nothing
//! here touches the network: the agent hands it bytes and a target root.

#![forbid(unsafe_code)]
