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
    if let Data::Enum(e) = &input.data {
        return expand_enum(&input, e);
    }
    check_repr(&input)?;
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
        Data::Enum(_) => unreachable!("handled above"),
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

    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return crate::device_type_generic::expand(&input, fields);
    }
    let krate = paths::krate();
    let private = paths::private();
    let name = &input.ident;
    let name_str = name.to_string();
    let n = fields.len();
    let field_layouts = fields.iter().map(|f| field_layout(f, &quote!(#name)));
    let msg = format!("spindle: the layout of `{name_str}` does not follow C's rules; keep #[repr(C)] without packed or align");
    Ok(quote! {
        const _: () = {
            static FIELDS: [#private::FieldLayout; #n] = [#(#field_layouts),*];
            static LAYOUT: #private::StructLayout = #private::StructLayout {
                name: #name_str,
                args: &[],
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

/// A C-like enum: `#[repr(<integer>)]`, variants without fields. Its
/// layout is its integer's; the variants' discriminants come from rustc
/// (`Op::Add as i128`).
fn expand_enum(input: &DeriveInput, e: &syn::DataEnum) -> syn::Result<TokenStream> {
    let repr = enum_repr(input)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "DeviceType enums cannot be generic",
        ));
    }
    if e.variants.is_empty() {
        return Err(syn::Error::new(
            input.ident.span(),
            "DeviceType needs an enum with at least one variant",
        ));
    }
    for v in &e.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                &v.fields,
                "DeviceType enums are C-like: variants cannot hold fields (put the data in a \
                 struct beside a tag enum)",
            ));
        }
    }
    let krate = paths::krate();
    let private = paths::private();
    let name = &input.ident;
    let name_str = name.to_string();
    let n = e.variants.len();
    let variants = e.variants.iter().map(|v| {
        let ident = &v.ident;
        let vname = ident.to_string();
        quote! {
            #private::EnumVariant { name: #vname, value: #name::#ident as i128 }
        }
    });
    let repr_ident = syn::Ident::new(repr, proc_macro2::Span::call_site());
    let scalar = format_scalar(repr);
    let scalar = syn::Ident::new(scalar, proc_macro2::Span::call_site());
    let size_msg = format!("spindle: `{name_str}` is not the size of its #[repr({repr})]");
    let zero_msg = format!(
        "spindle: a DeviceType enum needs a variant whose discriminant is 0, the value of \
         zeroed device memory (`Device::zeros`): give `{name_str}` one (e.g. its first variant)"
    );
    Ok(quote! {
        const _: () = {
            static VARIANTS: [#private::EnumVariant; #n] = [#(#variants),*];
            static LAYOUT: #private::EnumLayout = #private::EnumLayout {
                name: #name_str,
                repr: #private::Scalar::#scalar,
                variants: &VARIANTS,
            };
            const _: () = ::core::assert!(
                ::core::mem::size_of::<#name>() == ::core::mem::size_of::<#repr_ident>(),
                #size_msg
            );
            const _: () = ::core::assert!(#private::has_zero_variant(&VARIANTS), #zero_msg);
            // SAFETY: a fieldless `#[repr(<integer>)]` enum is its integer
            // (size asserted above); kernels only store values that are
            // discriminants of its variants (they have no integer-to-enum
            // conversion), and zeroed memory holds the variant with
            // discriminant 0 (asserted above).
            unsafe impl #krate::DeviceType for #name {
                const DESC: #private::TypeDesc = #private::TypeDesc::Enum(&LAYOUT);
            }
        };
    })
}

/// The integer of an enum's `#[repr(…)]`.
fn enum_repr(input: &DeriveInput) -> syn::Result<&'static str> {
    const INTS: [&str; 10] = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
    ];
    let mut found = None;
    for a in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        a.parse_nested_meta(|m| {
            match INTS.iter().find(|t| m.path.is_ident(t)) {
                Some(t) => found = Some(*t),
                None if m.path.is_ident("C") => {
                    return Err(m.error(
                        "`#[repr(C)]` leaves an enum's size to the C compiler: a DeviceType enum \
                         needs an integer #[repr] (`#[repr(u32)]`)",
                    ))
                }
                None => {
                    return Err(m.error(
                        "a DeviceType enum needs an integer #[repr] (`#[repr(u32)]`), alone",
                    ))
                }
            }
            Ok(())
        })?;
    }
    found.ok_or_else(|| {
        syn::Error::new(
            input.ident.span(),
            "a DeviceType enum needs an integer #[repr] so Rust and CUDA agree on its size: add \
             #[repr(u32)] (or another integer type)",
        )
    })
}

/// The `Scalar` variant of a Rust integer type name.
fn format_scalar(t: &str) -> &'static str {
    match t {
        "u8" => "U8",
        "u16" => "U16",
        "u32" => "U32",
        "u64" => "U64",
        "usize" => "Usize",
        "i8" => "I8",
        "i16" => "I16",
        "i32" => "I32",
        "i64" => "I64",
        _ => "Isize",
    }
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
pub(crate) fn check_field_type(ty: &Type) -> syn::Result<()> {
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

/// The `FieldLayout` of named field `f` of struct `owner` (the struct's
/// name, or `Self` inside a generic struct's impl).
pub(crate) fn field_layout(f: &syn::Field, owner: &TokenStream) -> TokenStream {
    let krate = paths::krate();
    let private = paths::private();
    let ident = f.ident.as_ref().expect("named fields");
    let fname = ident.to_string();
    let ty = &f.ty;
    let desc = quote_spanned!(ty.span()=> <#ty as #krate::DeviceType>::DESC);
    quote! {
        #private::FieldLayout {
            name: #fname,
            offset: ::core::mem::offset_of!(#owner, #ident),
            ty: &#desc,
        }
    }
}
