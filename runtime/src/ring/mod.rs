//! Ring actors: the host side of the ring protocol and its executors (issue: ring mode).
