//! C spellings of IR types and the declarations behind them: one C struct per
//! [`StructDef`](crate::ir::StructDef), and one one-field wrapper struct per
//! array type (`struct spindle_arr_4_float { float v[4]; }`) so arrays copy,
//! pass and return by value exactly as in Rust. Each declaration carries
//! `static_assert`s that pin its size, alignment and field offsets to the
//! layout Rust computed.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::Ctx;
use crate::ir::Ty;

/// The array types the emitted code names, registered on first use.
#[derive(Debug, Default)]
pub(crate) struct ArrayTypes {
    /// `(element type, length)` in first-use order.
    list: Vec<(Ty, u32)>,
    names: HashSet<String>,
}

impl Ctx<'_> {
    /// The C type of `ty`: `uint32_t`, `S_Tally`, `spindle_arr_4_float`,
    /// `void` for `()`.
    pub(crate) fn c_type(&mut self, ty: &Ty) -> String {
        match ty {
            Ty::Unit => "void".to_string(),
            Ty::Scalar(s) => s.c_name().to_string(),
            Ty::Struct(id) => match self.names.struct_name(*id) {
                Some(n) => n.to_string(),
                None => self.invalid(&format!("struct id {id} is not in Kernel::structs")),
            },
            Ty::Array(elem, len) => {
                let elem_c = self.c_type(elem);
                let name = format!("spindle_arr_{len}_{elem_c}");
                if *len == 0 {
                    self.error(&format!(
                        "zero-length array type [{}; 0] is not supported by the CUDA backend",
                        self.kernel.ty_name(elem)
                    ));
                }
                if self.arrays.names.insert(name.clone()) {
                    self.arrays.list.push(((**elem).clone(), *len));
                }
                name
            }
        }
    }

    /// Declares every struct of the kernel and every array wrapper the code
    /// used, each after the types it contains.
    pub(crate) fn type_declarations(&mut self) -> String {
        let mut out = String::new();
        let mut done = HashSet::new();
        for id in 0..self.kernel.structs.len() as u32 {
            self.declare(&Ty::Struct(id), &mut done, &mut out);
        }
        // Declaring structs registers the wrappers of their array fields;
        // the list only grows, so walk it by index.
        let mut i = 0;
        while i < self.arrays.list.len() {
            let (elem, len) = self.arrays.list[i].clone();
            self.declare(&Ty::Array(Box::new(elem), len), &mut done, &mut out);
            i += 1;
        }
        out
    }

    fn declare(&mut self, ty: &Ty, done: &mut HashSet<String>, out: &mut String) {
        match ty {
            Ty::Unit | Ty::Scalar(_) => {}
            Ty::Array(elem, len) => {
                let name = self.c_type(ty);
                if !done.insert(name.clone()) {
                    return;
                }
                self.declare(elem, done, out);
                let elem_c = self.c_type(elem);
                let size = self.kernel.size_of(ty);
                let _ = writeln!(out, "struct {name} {{ {elem_c} v[{len}]; }};");
                let _ = writeln!(
                    out,
                    "static_assert(sizeof({name}) == {size}, \"{name}: size differs from Rust\");"
                );
            }
            Ty::Struct(id) => {
                let name = self.c_type(ty);
                if !done.insert(name.clone()) || self.names.struct_name(*id).is_none() {
                    return;
                }
                let def = self.kernel.struct_def(*id).clone();
                if def.size == 0 {
                    self.error(&format!(
                        "zero-sized struct {} is not supported by the CUDA backend",
                        def.name
                    ));
                }
                for f in &def.fields {
                    self.declare(&f.ty, done, out);
                }
                // Recompute the layout C will use; a difference (a packed
                // struct) is reported here instead of as a failed assert.
                let mut end = 0u32;
                let mut natural_align = 1u32;
                for f in &def.fields {
                    let align = self.kernel.align_of(&f.ty);
                    natural_align = natural_align.max(align);
                    let at = end.div_ceil(align) * align;
                    if at != f.offset {
                        self.error(&format!(
                            "struct {}: field `{}` is at offset {} in Rust but would be at {} in C \
                             (packed or reordered structs are not supported)",
                            def.name, f.name, f.offset, at
                        ));
                    }
                    end = f.offset + self.kernel.size_of(&f.ty);
                }
                let align_attr = if def.align > natural_align {
                    format!("alignas({}) ", def.align)
                } else {
                    String::new()
                };
                let _ = writeln!(out, "struct {align_attr}{name} {{");
                for (i, f) in def.fields.iter().enumerate() {
                    let fty = self.c_type(&f.ty);
                    let fname = self.names.field(*id, i as u32).unwrap_or("_").to_string();
                    let _ = writeln!(out, "  {fty} {fname};");
                }
                let _ = writeln!(out, "}};");
                let what = format!("{name} ({})", def.name);
                let _ = writeln!(
                    out,
                    "static_assert(sizeof({name}) == {}, \"{what}: size differs from Rust\");",
                    def.size
                );
                let _ = writeln!(
                    out,
                    "static_assert(alignof({name}) == {}, \"{what}: alignment differs from Rust\");",
                    def.align
                );
                for (i, f) in def.fields.iter().enumerate() {
                    let fname = self.names.field(*id, i as u32).unwrap_or("_");
                    let _ = writeln!(
                        out,
                        "static_assert(offsetof({name}, {fname}) == {}, \"{what}.{}: offset differs from Rust\");",
                        f.offset, f.name
                    );
                }
            }
        }
    }
}
