//! Tuples and `Option`s in the IR: anonymous structs.
//!
//! The IR has one aggregate with fields, [`StructDef`]; a tuple `(A, B)`
//! becomes a struct with fields `0`, `1` and an `Option<T>` a struct
//! `{ is_some: bool, value: T }`, laid out by C's rules (neither ever
//! crosses to the host, so Rust's own layout of them does not matter).
//! Each distinct tuple or option type gets one definition, appended to
//! the kernel's named structs after the types it contains, so the
//! struct table stays ordered dependencies first.

use std::collections::HashMap;

use crate::ir::{FieldDef, Scalar, StructDef, StructId, Ty};

/// The struct table of one link: the named `DeviceType` structs first,
/// then every anonymous struct finalizing asked for.
#[derive(Debug, Default)]
pub(super) struct StructTable {
    pub defs: Vec<StructDef>,
    anon: HashMap<Anon, StructId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Anon {
    Tuple(Vec<Ty>),
    Option(Ty),
}

/// The field of an `Option` struct that says whether it holds a value.
pub(super) const OPTION_IS_SOME: u32 = 0;
/// The field of an `Option` struct that holds the value.
pub(super) const OPTION_VALUE: u32 = 1;

impl StructTable {
    pub fn new(named: Vec<StructDef>) -> Self {
        StructTable {
            defs: named,
            anon: HashMap::new(),
        }
    }

    /// The struct of the tuple type with these element types.
    pub fn tuple(&mut self, elems: Vec<Ty>) -> StructId {
        let fields: Vec<(String, Ty)> = elems
            .iter()
            .enumerate()
            .map(|(i, t)| (i.to_string(), t.clone()))
            .collect();
        let names: Vec<String> = elems.iter().map(|t| self.ty_name(t)).collect();
        let name = if names.len() == 1 {
            format!("({},)", names[0])
        } else {
            format!("({})", names.join(", "))
        };
        self.intern(Anon::Tuple(elems), name, fields)
    }

    /// The struct of `Option<inner>`.
    pub fn option(&mut self, inner: Ty) -> StructId {
        let name = format!("Option<{}>", self.ty_name(&inner));
        let fields = vec![
            ("is_some".to_string(), Ty::Scalar(Scalar::Bool)),
            ("value".to_string(), inner.clone()),
        ];
        self.intern(Anon::Option(inner), name, fields)
    }

    fn intern(&mut self, key: Anon, name: String, fields: Vec<(String, Ty)>) -> StructId {
        if let Some(id) = self.anon.get(&key) {
            return *id;
        }
        let mut end = 0u32;
        let mut align = 1u32;
        let fields = fields
            .into_iter()
            .map(|(name, ty)| {
                let (size, a) = (self.size_of(&ty), self.align_of(&ty));
                let offset = end.div_ceil(a) * a;
                end = offset + size;
                align = align.max(a);
                FieldDef { name, offset, ty }
            })
            .collect();
        self.defs.push(StructDef {
            name,
            size: end.div_ceil(align).max(1) * align,
            align,
            fields,
        });
        let id = (self.defs.len() - 1) as StructId;
        self.anon.insert(key, id);
        id
    }

    // At macro time the named structs are unknown (ids default to 0 and
    // the table is empty): sizes are then 0, and the IR is thrown away.
    fn size_of(&self, ty: &Ty) -> u32 {
        match ty {
            Ty::Unit => 0,
            Ty::Scalar(s) => s.size() as u32,
            Ty::Array(e, n) => self.size_of(e) * n,
            Ty::Struct(id) => self.defs.get(*id as usize).map_or(0, |d| d.size),
        }
    }

    fn align_of(&self, ty: &Ty) -> u32 {
        match ty {
            Ty::Unit => 1,
            Ty::Scalar(s) => s.size() as u32,
            Ty::Array(e, _) => self.align_of(e),
            Ty::Struct(id) => self.defs.get(*id as usize).map_or(1, |d| d.align),
        }
    }

    fn ty_name(&self, ty: &Ty) -> String {
        match ty {
            Ty::Unit => "()".into(),
            Ty::Scalar(s) => s.rust_name().into(),
            Ty::Array(e, n) => format!("[{}; {n}]", self.ty_name(e)),
            Ty::Struct(id) => self
                .defs
                .get(*id as usize)
                .map_or_else(|| "_".into(), |d| d.name.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_and_options_get_c_layouts_once() {
        let mut t = StructTable::new(Vec::new());
        let a = t.tuple(vec![Ty::Scalar(Scalar::U8), Ty::Scalar(Scalar::F64)]);
        let b = t.tuple(vec![Ty::Scalar(Scalar::U8), Ty::Scalar(Scalar::F64)]);
        assert_eq!(a, b);
        let d = &t.defs[a as usize];
        assert_eq!((d.name.as_str(), d.size, d.align), ("(u8, f64)", 16, 8));
        assert_eq!(d.fields[1].offset, 8);
        let o = t.option(Ty::Struct(a));
        let d = &t.defs[o as usize];
        assert_eq!((d.name.as_str(), d.size), ("Option<(u8, f64)>", 24));
        assert_eq!(d.fields[OPTION_VALUE as usize].offset, 8);
        let one = t.tuple(vec![Ty::Scalar(Scalar::U16)]);
        assert_eq!(t.defs[one as usize].name, "(u16,)");
    }
}
