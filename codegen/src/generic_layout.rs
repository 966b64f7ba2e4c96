//! The layouts of generic `#[derive(DeviceType)]` structs' instantiations.
//!
//! A kernel names a generic struct through its [`GenericStruct`] (what the
//! derive records of the definition); the linker makes the layout of each
//! instantiation the kernel uses, `Pair<f32>`, with C's rules: each field at
//! the next multiple of its alignment, the size rounded up to the largest
//! alignment. That is `#[repr(C)]`'s definition, so the result is the layout
//! rustc gives the same instantiation (the derive requires `#[repr(C)]`, and
//! `tests/generic_structs.rs` compares both with `std::mem`).
//!
//! Every layout a kernel holds is a `&'static` description, so an
//! instantiation's is made once per process and kept (interned by the
//! struct's definition and its arguments): a program has as many as it
//! uses distinct instantiations, like the monomorphized code rustc emits.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::ir::Scalar;
use crate::layout::{FieldLayout, FieldShape, GenericStruct, StructLayout, TypeDesc};

/// The layout of `generic` instantiated with `args` (one scalar per type
/// parameter), made at its first use. An error says what does not fit:
/// the wrong number of arguments, or a nested generic struct whose
/// argument is not a scalar.
pub fn instantiate(
    generic: &'static GenericStruct,
    args: &[Scalar],
) -> Result<&'static TypeDesc, String> {
    if args.len() != generic.params.len() {
        return Err(format!(
            "`{}` takes {} type argument(s) but {} were given",
            generic.name,
            generic.params.len(),
            args.len()
        ));
    }
    type Interned = HashMap<(String, Vec<Scalar>), &'static TypeDesc>;
    static INSTANCES: OnceLock<Mutex<Interned>> = OnceLock::new();
    let key = (format!("{generic:?}"), args.to_vec());
    let instances = INSTANCES.get_or_init(Default::default);
    if let Some(d) = lock(instances).get(&key) {
        return Ok(d);
    }
    // Made outside the lock: a nested generic field instantiates again.
    let desc = make(generic, args)?;
    Ok(*lock(instances).entry(key).or_insert(desc))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while the lock is held; a poisoned map is still whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn make(generic: &'static GenericStruct, args: &[Scalar]) -> Result<&'static TypeDesc, String> {
    let mut fields = Vec::with_capacity(generic.fields.len());
    let (mut end, mut align) = (0usize, 1usize);
    for f in generic.fields {
        let ty = field_desc(generic, &f.ty, args)?;
        let a = ty.align().max(1);
        let offset = end.div_ceil(a) * a;
        end = offset + ty.size();
        align = align.max(a);
        fields.push(FieldLayout {
            name: f.name,
            offset,
            ty,
        });
    }
    let layout = StructLayout {
        name: generic.name,
        args: leak(args.iter().map(|s| scalar_desc(*s)).collect()),
        size: end.div_ceil(align) * align,
        align,
        fields: leak(fields),
    };
    Ok(Box::leak(Box::new(TypeDesc::Struct(Box::leak(Box::new(
        layout,
    ))))))
}

fn field_desc(
    generic: &GenericStruct,
    shape: &FieldShape,
    args: &[Scalar],
) -> Result<&'static TypeDesc, String> {
    Ok(match shape {
        FieldShape::Param(i) => scalar_desc(args[*i]),
        FieldShape::Known(d) => d,
        FieldShape::Array(elem, len) => Box::leak(Box::new(TypeDesc::Array {
            elem: field_desc(generic, elem, args)?,
            len: *len,
        })),
        FieldShape::Generic(inner, inner_args) => {
            let scalars = inner_args
                .iter()
                .map(|a| match a {
                    FieldShape::Param(i) => Ok(args[*i]),
                    FieldShape::Known(TypeDesc::Scalar(s)) => Ok(*s),
                    _ => Err(format!(
                        "a field of `{}` instantiates `{}` with an argument that is not a \
                         scalar type: generic DeviceType structs take scalar type arguments",
                        generic.name, inner.name
                    )),
                })
                .collect::<Result<Vec<Scalar>, String>>()?;
            instantiate(inner, &scalars)?
        }
    })
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

/// The description of a scalar type, as a `'static`.
pub fn scalar_desc(s: Scalar) -> &'static TypeDesc {
    const DESCS: [TypeDesc; 13] = {
        let mut out = [TypeDesc::Scalar(Scalar::Bool); 13];
        let mut i = 0;
        while i < 13 {
            out[i] = TypeDesc::Scalar(Scalar::ALL[i]);
            i += 1;
        }
        out
    };
    static TABLE: [TypeDesc; 13] = DESCS;
    let i = Scalar::ALL
        .iter()
        .position(|x| *x == s)
        .expect("ALL lists every scalar");
    &TABLE[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    static PAIR: GenericStruct = GenericStruct {
        name: "Pair",
        params: &["T"],
        fields: &[
            crate::layout::GenericField {
                name: "lo",
                ty: FieldShape::Param(0),
            },
            crate::layout::GenericField {
                name: "hi",
                ty: FieldShape::Param(0),
            },
        ],
    };
    static TAGGED: GenericStruct = GenericStruct {
        name: "Tagged",
        params: &["A", "B"],
        fields: &[
            crate::layout::GenericField {
                name: "tag",
                ty: FieldShape::Param(0),
            },
            crate::layout::GenericField {
                name: "pair",
                ty: FieldShape::Generic(&PAIR, &[FieldShape::Param(1)]),
            },
            crate::layout::GenericField {
                name: "few",
                ty: FieldShape::Array(&FieldShape::Param(0), 3),
            },
        ],
    };

    #[test]
    fn instantiations_follow_c_layout_and_are_made_once() {
        let d = instantiate(&TAGGED, &[Scalar::U8, Scalar::F64]).unwrap();
        let TypeDesc::Struct(l) = d else {
            panic!("a struct")
        };
        assert_eq!(l.rust_name(), "Tagged<u8, f64>");
        let offsets: Vec<usize> = l.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offsets, [0, 8, 24]);
        assert_eq!((l.size, l.align), (32, 8));
        assert_eq!(l.fields[1].ty.rust_name(), "Pair<f64>");
        assert!(crate::layout::follows_c_layout(l));
        let again = instantiate(&TAGGED, &[Scalar::U8, Scalar::F64]).unwrap();
        assert!(std::ptr::eq(d, again));
        let err = instantiate(&PAIR, &[]).unwrap_err();
        assert!(err.contains("takes 1 type argument"), "{err}");
    }
}
