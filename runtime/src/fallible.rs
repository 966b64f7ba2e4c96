//! Allocations whose size a user's input decides (buffer lengths, ring
//! capacities and payloads, a kernel's local arrays): sized with checked
//! arithmetic and made with `try_reserve`, so a size that cannot be
//! satisfied is an [`Error::OutOfMemory`] naming what and how much, never
//! an abort of the process.

use crate::{Error, Result};

/// The error for `bytes` bytes of `what` that could not be allocated.
pub(crate) fn out_of_memory(what: impl Into<String>, bytes: u64) -> Error {
    Error::OutOfMemory {
        what: what.into(),
        bytes,
    }
}

/// `count × size` bytes, or an [`Error::OutOfMemory`] for `what` when the
/// product does not fit in a `usize` (the request can never be met).
pub(crate) fn bytes_for(count: usize, size: usize, what: impl FnOnce() -> String) -> Result<usize> {
    count.checked_mul(size).ok_or_else(|| {
        out_of_memory(
            what(),
            (count as u128 * size as u128).min(u64::MAX as u128) as u64,
        )
    })
}

/// Resizes `v` to `len` elements (new ones `value`), reserving the room
/// first without aborting.
pub(crate) fn resize<T: Clone>(
    v: &mut Vec<T>,
    len: usize,
    value: T,
    what: impl FnOnce() -> String,
) -> Result<()> {
    if len > v.len() {
        let extra = len - v.len();
        v.try_reserve_exact(extra).map_err(|_| {
            out_of_memory(
                what(),
                (len as u128 * size_of::<T>() as u128).min(u64::MAX as u128) as u64,
            )
        })?;
    }
    v.resize(len, value);
    Ok(())
}

/// A vector of `len` copies of `value`, allocated without aborting.
pub(crate) fn vec_of<T: Clone>(
    len: usize,
    value: T,
    what: impl FnOnce() -> String,
) -> Result<Vec<T>> {
    let mut v = Vec::new();
    resize(&mut v, len, value, what)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_that_cannot_be_met_are_errors() {
        let e = bytes_for(usize::MAX, 8, || "many words".into()).unwrap_err();
        assert!(
            matches!(&e, Error::OutOfMemory { what, bytes } if what == "many words" && *bytes == u64::MAX),
            "{e:?}"
        );
        // 2^60 words: the size fits in a usize, the memory never does.
        let e = vec_of(1usize << 60, 0u64, || "2^60 words".into()).unwrap_err();
        match &e {
            Error::OutOfMemory { what, bytes } => {
                assert_eq!(what, "2^60 words");
                assert_eq!(*bytes, 1u64 << 63);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string()
                .contains("9223372036854775808 bytes for 2^60 words"),
            "{e}"
        );
        let mut v = vec![1u8; 4];
        resize(&mut v, 6, 2, || unreachable!()).unwrap();
        assert_eq!(v, [1, 1, 1, 1, 2, 2]);
    }
}
