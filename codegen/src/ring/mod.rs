//! The ring protocol's shared layout and the persistent-loop emitter (issue: ring mode).
