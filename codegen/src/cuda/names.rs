//! C spellings of the user's names.
//!
//! Every name that comes from Rust gets a prefix (`p_` parameters, `l<id>_`
//! locals, `S_` structs, `fn_` device functions, `sh<i>_` block-shared
//! arrays, `dsh<i>_` dynamic shared views and `dsh<i>_<name>_len` their
//! lengths), so a Rust identifier that
//! is a C++ keyword (`int`, `float`, `new`, `this`) or a CUDA built-in
//! (`threadIdx`) can never clash with C. Struct fields keep their Rust name
//! when that is safe in C, so generated code reads like the user's.

use std::collections::HashSet;

use crate::ir::{Function, Kernel};

/// C++ keywords and alternative tokens, plus the identifiers NVRTC or the
/// generated code predefine, that a struct field must not be spelled as.
const RESERVED: &[&str] = &[
    "alignas",
    "alignof",
    "and",
    "and_eq",
    "asm",
    "auto",
    "bitand",
    "bitor",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "char8_t",
    "char16_t",
    "char32_t",
    "class",
    "compl",
    "concept",
    "const",
    "consteval",
    "constexpr",
    "constinit",
    "const_cast",
    "continue",
    "co_await",
    "co_return",
    "co_yield",
    "decltype",
    "default",
    "delete",
    "do",
    "double",
    "dynamic_cast",
    "else",
    "enum",
    "explicit",
    "export",
    "extern",
    "false",
    "float",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "not",
    "not_eq",
    "nullptr",
    "operator",
    "or",
    "or_eq",
    "private",
    "protected",
    "public",
    "register",
    "reinterpret_cast",
    "requires",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_assert",
    "static_cast",
    "struct",
    "switch",
    "template",
    "this",
    "thread_local",
    "throw",
    "true",
    "try",
    "typedef",
    "typeid",
    "typename",
    "union",
    "unsigned",
    "using",
    "virtual",
    "void",
    "volatile",
    "wchar_t",
    "while",
    "xor",
    "xor_eq",
    "offsetof",
    "v",
    "restrict",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    "NULL",
];

/// Turns any Rust identifier into C identifier characters: ASCII letters,
/// digits and `_` stay; anything else becomes `_u<hex>_`.
pub(crate) fn sanitize(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push_str(&format!("_u{:x}_", c as u32));
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A C-friendly spelling of the names the front end makes up: `Vec2_dot`
/// for the method `Vec2::dot`, `tuple_u32_f32` for the tuple struct
/// `(u32, f32)`, `Option_u32` for `Option<u32>`. (Two names that come out
/// alike are told apart by [`unique`].)
fn readable(name: &str) -> String {
    if !name.contains(|c: char| "():,<>[]; ".contains(c)) {
        return name.to_string();
    }
    let mut out = String::new();
    if name.starts_with('(') {
        out.push_str("tuple");
    }
    for part in name.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !part.is_empty() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push_str(part);
        }
    }
    out
}

/// A plain ASCII identifier (what `sanitize` leaves unchanged).
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// May a struct field be spelled in C exactly as in Rust?
fn field_is_safe(name: &str) -> bool {
    let reserved_underscore =
        name.starts_with('_') && name[1..].starts_with(|c: char| c.is_ascii_uppercase());
    is_plain(name) && !RESERVED.contains(&name) && !name.contains("__") && !reserved_underscore
}

/// The C names of one kernel's structs and device functions.
#[derive(Debug)]
pub(crate) struct Names {
    structs: Vec<String>,
    fields: Vec<Vec<String>>,
    fns: Vec<String>,
    shared: Vec<String>,
    dynamic_shared: Vec<String>,
}

/// Gives each item `prefix + name`, or `prefix<index>_name` when that would
/// repeat an earlier one (two structs named alike from different modules).
fn unique(prefix: &str, names: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .enumerate()
        .map(|(i, n)| {
            let plain = format!("{prefix}_{}", sanitize(&n));
            if is_plain(&n) && seen.insert(plain.clone()) {
                plain
            } else {
                let c = format!("{prefix}{i}__{}", sanitize(&n));
                seen.insert(c.clone());
                c
            }
        })
        .collect()
}

impl Names {
    pub(crate) fn new(kernel: &Kernel) -> Names {
        let structs = unique("S", kernel.structs.iter().map(|s| readable(&s.name)));
        let fields = kernel
            .structs
            .iter()
            .map(|s| {
                let safe: HashSet<&str> = s
                    .fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .filter(|n| field_is_safe(n))
                    .collect();
                s.fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        if safe.contains(f.name.as_str()) {
                            f.name.clone()
                        } else {
                            // Contains `__`, which no safe name does: no clash.
                            format!("f{i}__{}", sanitize(&f.name))
                        }
                    })
                    .collect()
            })
            .collect();
        let fns = unique("fn", kernel.device_fns.iter().map(|f| readable(&f.name)));
        // `sh<index>_`: no local (`l<id>_`), parameter (`p_`), struct (`S_`),
        // function (`fn_`) or generated (`spindle_`) name starts so.
        let shared = kernel
            .shared
            .iter()
            .enumerate()
            .map(|(i, a)| format!("sh{i}_{}", sanitize(&a.name)))
            .collect();
        // `dsh<index>_`, likewise; `_len` appended to a distinct
        // `dsh<index>_` name stays distinct (the index differs).
        let dynamic_shared = kernel
            .dynamic_shared
            .iter()
            .enumerate()
            .map(|(i, v)| format!("dsh{i}_{}", sanitize(&v.name)))
            .collect();
        Names {
            structs,
            fields,
            fns,
            shared,
            dynamic_shared,
        }
    }

    /// `S_Tally`; `None` for an id outside [`Kernel::structs`].
    pub(crate) fn struct_name(&self, id: u32) -> Option<&str> {
        self.structs.get(id as usize).map(String::as_str)
    }

    /// The C member name of field `field` of struct `id`.
    pub(crate) fn field(&self, id: u32, field: u32) -> Option<&str> {
        self.fields
            .get(id as usize)
            .and_then(|f| f.get(field as usize))
            .map(String::as_str)
    }

    /// `sh0_tile`: the block-shared array `Kernel::shared[id]`.
    pub(crate) fn shared(&self, id: u32) -> Option<&str> {
        self.shared.get(id as usize).map(String::as_str)
    }

    /// `dsh0_buf`: the view `Kernel::dynamic_shared[id]`, a `T*`.
    pub(crate) fn dynamic_shared(&self, id: u32) -> Option<&str> {
        self.dynamic_shared.get(id as usize).map(String::as_str)
    }

    /// `dsh0_buf_len`: the view's length in elements, a `uint64_t`.
    pub(crate) fn dynamic_shared_len(&self, id: u32) -> Option<String> {
        self.dynamic_shared(id).map(|n| format!("{n}_len"))
    }

    /// `fn_helper`.
    pub(crate) fn function(&self, id: u32) -> Option<&str> {
        self.fns.get(id as usize).map(String::as_str)
    }
}

/// The C names of one function's parameters and locals.
#[derive(Debug)]
pub(crate) struct FnNames {
    pub(crate) params: Vec<String>,
    /// The length parameter of each slice parameter (`p_x_len`), by index.
    pub(crate) lens: Vec<String>,
    pub(crate) locals: Vec<String>,
}

impl FnNames {
    pub(crate) fn new(f: &Function) -> FnNames {
        let params = unique("p", f.params.iter().map(|p| p.name.clone()));
        let lens = params
            .iter()
            .map(|p| {
                let mut len = format!("{p}_len");
                while params.contains(&len) {
                    len.push('_');
                }
                len
            })
            .collect();
        FnNames {
            params,
            lens,
            locals: f
                .locals
                .iter()
                .enumerate()
                .map(|(i, l)| format!("l{i}_{}", sanitize(&l.name)))
                .collect(),
        }
    }
}
