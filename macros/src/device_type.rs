//! `#[derive(DeviceType)]`: layout metadata for a `#[repr(C)]` struct, with
//! offsets from `offset_of!` (Rust is the source of truth) and a const
//! assertion that they follow the C layout rules the CUDA side uses.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Type};

use crate::paths;

pub fn expand(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    check_repr(&input)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "DeviceType structs cannot be generic: kernels need one fixed layout; define a concrete struct",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => &f.named,
            Fields::Unnamed(_) | Fields::Unit => {
                return Err(syn::Error::new(
                    input.ident.span(),
                    "DeviceType needs a struct with named fields, e.g. `struct Tally { count: u32, sum: f32 }`",
                ))
            }
        },
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                "DeviceType cannot be derived for an enum: use a struct with an integer tag field",
            ))
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "DeviceType cannot be derived for a union: use a struct",
            ))
        }
    };
    if fields.is_empty() {
        return Err(syn::Error::new(
            input.ident.span(),
            "DeviceType needs at least one field (an empty struct has size 0 in Rust but 1 in C++)",
        ));
    }
    let mut errors: Option<syn::Error> = None;
    for f in fields {
        if let Err(e) = check_field_type(&f.ty) {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let krate = paths::krate();
    let private = paths::private();
    let name = &input.ident;
    let name_str = name.to_string();
    let n = fields.len();
    let field_layouts = fields.iter().map(|f| {
        let ident = f.ident.as_ref().expect("named fields");
        let fname = ident.to_string();
        let ty = &f.ty;
        let desc = quote_spanned!(ty.span()=> <#ty as #krate::DeviceType>::DESC);
        quote! {
            #private::FieldLayout {
                name: #fname,
                offset: ::core::mem::offset_of!(#name, #ident),
                ty: &#desc,
            }
        }
    });
    let msg = format!("spindle: the layout of `{name_str}` does not follow C's rules; keep #[repr(C)] without packed or align");
    Ok(quote! {
        const _: () = {
            static FIELDS: [#private::FieldLayout; #n] = [#(#field_layouts),*];
            static LAYOUT: #private::StructLayout = #private::StructLayout {
                name: #name_str,
                size: ::core::mem::size_of::<#name>(),
                align: ::core::mem::align_of::<#name>(),
                fields: &FIELDS,
            };
            const _: () = ::core::assert!(#private::follows_c_layout(&LAYOUT), #msg);
            // SAFETY: the struct is `#[repr(C)]` (checked by the derive), its
            // fields are all `DeviceType`s (checked by the trait bounds in
            // FIELDS), and LAYOUT's offsets come from `offset_of!`.
            unsafe impl #krate::DeviceType for #name {
                const DESC: #private::TypeDesc = #private::TypeDesc::Struct(&LAYOUT);
            }
        };
    })
}

fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut has_c = false;
    for a in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("C") {
                has_c = true;
                Ok(())
            } else if m.path.is_ident("packed") || m.path.is_ident("align") {
                Err(m.error("DeviceType does not support #[repr(packed)] or #[repr(align)]: CUDA must see C's natural layout"))
            } else {
                Err(m.error("DeviceType needs exactly #[repr(C)]"))
            }
        })?;
    }
    if !has_c {
        return Err(syn::Error::new(
            input.ident.span(),
            "DeviceType needs #[repr(C)] so Rust and CUDA agree on the layout: add #[repr(C)] to the struct",
        ));
    }
    Ok(())
}

/// Rejects field types that can never be device data, with a hint; others
/// are checked by the `DeviceType` trait bound.
fn check_field_type(ty: &Type) -> syn::Result<()> {
    let reason = match ty {
        Type::Reference(_) | Type::Ptr(_) => "references and pointers cannot cross to the GPU: store the value, or an index into a buffer",
        Type::Slice(_) => "slices have no fixed size: use a fixed-size array `[T; N]`",
        Type::Tuple(_) => "tuples have no C layout: use a nested #[derive(DeviceType)] struct or an array",
        Type::BareFn(_) | Type::TraitObject(_) | Type::ImplTrait(_) => "functions and trait objects cannot be device data",
        Type::Array(a) => return check_field_type(&a.elem),
        Type::Paren(p) => return check_field_type(&p.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
            match last.as_str() {
                "String" | "Vec" | "Box" | "Rc" | "Arc" | "Option" | "HashMap" | "char" => {
                    "this type has no fixed C layout on the GPU: use scalars, fixed-size arrays or nested #[derive(DeviceType)] structs"
                }
                _ => return Ok(()),
            }
        }
        _ => return Ok(()),
    };
    Err(syn::Error::new_spanned(
        ty,
        format!("unsupported field type for DeviceType: {reason}"),
    ))
}
