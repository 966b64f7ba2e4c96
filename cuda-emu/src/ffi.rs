//! What every exported entry point shares: a panic never crosses the C
//! boundary (it becomes an error code and a message), and results are
//! written through caller pointers only after checking them.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs an entry point's body; a panic inside is reported and returned as
/// `unknown` (the C caller cannot unwind).
pub(crate) fn guard<E: Copy>(
    name: &str,
    unknown: E,
    body: impl FnOnce() -> Result<(), E>,
) -> Result<(), E> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            crate::log::warn(format!("{name}: internal error: {what}"));
            Err(unknown)
        }
    }
}

/// Writes `value` through `out`; `Err(invalid)` when `out` is null.
///
/// # Safety
///
/// `out` is null or valid for a write of one `T` (the C caller's contract).
pub(crate) unsafe fn put<T, E>(out: *mut T, value: T, invalid: E) -> Result<(), E> {
    if out.is_null() {
        return Err(invalid);
    }
    // SAFETY: non-null, and valid for writes per this function's contract.
    unsafe { out.write(value) };
    Ok(())
}
