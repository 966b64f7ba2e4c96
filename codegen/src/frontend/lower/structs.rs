//! The struct a struct literal or pattern names, and the fields of a
//! struct type, for both plain and generic `DeviceType` structs (see
//! `frontend/generic_struct.rs`).

use proc_macro2::Span;

use super::Lowerer;
use crate::frontend::env::FieldInfo;
use crate::frontend::generic_struct::self_type;
use crate::frontend::signature::{record_path, value_type};
use crate::frontend::types::{Kind, Shape, TyVar};

impl Lowerer<'_, '_, '_> {
    /// The struct a struct literal or pattern names (`Self` is the impl's
    /// type) and its type; records the path for the glue. A generic
    /// struct's arguments are those written (`Pair::<f32> { .. }`), else
    /// inferred (`Pair { .. }`). `None` after an error.
    pub(super) fn struct_type_of_path(
        &mut self,
        path: &syn::Path,
        qself: bool,
    ) -> Option<(String, TyVar)> {
        let Some(last) = path.segments.last().filter(|_| !qself) else {
            self.error(path, "unsupported struct path");
            return None;
        };
        let name = last.ident.to_string();
        if let syn::PathArguments::AngleBracketed(_) = &last.arguments {
            let ty = syn::Type::Path(syn::TypePath {
                qself: None,
                path: path.clone(),
            });
            return match value_type(&mut self.type_cx(), &ty) {
                Ok(t) => Some((name, t)),
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            };
        }
        if !last.arguments.is_none() {
            self.error(
                path,
                "write a struct's generic arguments as `Pair::<f32> { .. }`",
            );
            return None;
        }
        if name == "Self" && path.segments.len() == 1 {
            let name = self.self_name(path)?;
            let link = self.cx.env.is_link();
            let ty = self_type(self.types(), &name, link);
            return Some((name, ty));
        }
        if let Some(g) = self.cx.env.generic_struct(&name) {
            record_path(self.cx.struct_paths, path);
            let args = (0..g.params.len())
                .map(|_| self.types().fresh(Kind::Any))
                .collect();
            let ty = self.types().generic(&name, args);
            return Some((name, ty));
        }
        if !self.cx.env.struct_exists(&name) {
            self.error(
                path,
                format!(
                    "no layout is known for `{name}`: a struct used in a kernel needs \
                     `#[derive(DeviceType)]` and `#[repr(C)]`"
                ),
            );
            return None;
        }
        if name != crate::ir::DIM3 {
            record_path(self.cx.struct_paths, path);
        }
        let key = self.types().struct_key(&name);
        let ty = self.types().known(Shape::Struct(key));
        Some((name, ty))
    }

    /// The fields of the struct type `ty`, in declaration order: `Ok(None)`
    /// when they are unknown (a `DeviceType` at macro time), `Err` after
    /// an error was reported at `span`.
    pub(super) fn fields_of_type(
        &mut self,
        ty: TyVar,
        span: Span,
    ) -> Result<Option<Vec<FieldInfo>>, ()> {
        let env = self.cx.env;
        match self.types().shape(ty) {
            Some(Shape::Struct(key)) => Ok(env.struct_fields(self.types(), key)),
            Some(Shape::Generic(key, args)) => match env.generic_fields(self.types(), key, args) {
                Ok(fields) => Ok(Some(fields)),
                Err(message) => {
                    self.error_at(span, message);
                    Err(())
                }
            },
            _ => Ok(None),
        }
    }
}
