//! The JIT pipeline's caches (issue: disk cache).
