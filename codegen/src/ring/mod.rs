//! Ring mode: the protocol's shared layout ([`layout`]) and the persistent
//! kernel that plays the executor side of it on the GPU ([`emit`]).

pub mod layout;
