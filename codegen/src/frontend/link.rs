//! Link time: the kernel and every `#[device]` fn it reaches, lowered with
//! every external item known, checked, and assembled into a [`Kernel`].

use std::collections::HashMap;

use proc_macro2::Span;

use super::anon::StructTable;
use super::env::{struct_table, Env, LinkEnv};
use super::finalize::Finalizer;
use super::hir::{CalleeKey, Owner};
use super::lower::too_many_shared_bytes;
use super::lower::{lower_fn, LowerCx, Lowered};
use super::signature::{check_signature, FnRole, TypeCx};
use super::types::Types;
use super::{fold, generics};
use crate::ir::{FnId, Kernel, SrcSpan, Ty, DYNAMIC_SHARED_ALIGN, MAX_SHARED_BYTES};
use crate::layout::TypeDesc;
use crate::{GenericArg, ItemSource, KernelMode, KernelOptions, LinkError};

pub(crate) fn link_kernel(
    kernel: &ItemSource<'_>,
    args: &[GenericArg],
    options: &KernelOptions,
    device_fns: &[ItemSource<'_>],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    let env = LinkEnv::new(*kernel, types, device_fns).map_err(|message| LinkError {
        message,
        file: kernel.file.to_string(),
        span: SrcSpan {
            line: kernel.line,
            column: 0,
        },
    })?;
    let src_of = |owner: Owner| match owner {
        Owner::Kernel => *kernel,
        Owner::Device(k) => env.src(k),
    };
    let fail = |owner: Owner, errors: Vec<syn::Error>| link_error(&src_of(owner), errors);

    let item =
        syn::parse_str::<syn::ItemFn>(kernel.source).map_err(|e| fail(Owner::Kernel, vec![e]))?;
    let (item, name) = instance(item, args).map_err(|e| fail(Owner::Kernel, e))?;
    let mut tys = Types::new();
    let mut sites = Vec::new();
    let (mut struct_paths, mut device_paths, mut const_paths) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut shared = LowerCx {
        types: &mut tys,
        env: Env::Link(&env),
        sites: &mut sites,
        struct_paths: &mut struct_paths,
        device_paths: &mut device_paths,
        const_paths: &mut const_paths,
        consts: kernel.consts,
        debug_assertions: options.debug_assertions,
    };

    let role = FnRole::Kernel(*options);
    let entry = lower_checked(&mut shared, &item, role, kernel.line, None, Owner::Kernel)
        .map_err(|(owner, e)| fail(owner, e))?;
    let mut lowered: HashMap<CalleeKey, Lowered> = HashMap::new();
    let mut work: Vec<CalleeKey> = entry.calls.iter().map(|(k, _)| *k).collect();
    while let Some(key) = work.pop() {
        if lowered.contains_key(&key) {
            continue;
        }
        let src = env.src(key);
        let item = env
            .item(key)
            .map_err(|e| fail(Owner::Device(key), vec![e]))?;
        // Each function's constants are those of its own module.
        shared.consts = src.consts;
        let self_ty = env.self_ty(key);
        let owner = Owner::Device(key);
        let l = lower_checked(
            &mut shared,
            &item,
            FnRole::Device,
            src.line,
            self_ty.as_deref(),
            owner,
        )
        .map_err(|(owner, e)| fail(owner, e))?;
        work.extend(l.calls.iter().map(|(k, _)| *k));
        lowered.insert(key, l);
    }

    // Callees first; a call back into a function still being visited is
    // recursion, which the GPU cannot do.
    let mut order = Vec::new();
    let mut state = HashMap::new();
    for (callee, span) in &entry.calls {
        visit(
            *callee,
            *span,
            Owner::Kernel,
            &lowered,
            &mut state,
            &mut order,
        )
        .map_err(|(owner, e)| fail(owner, vec![e]))?;
    }
    let fn_ids: HashMap<CalleeKey, FnId> = order
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as FnId))
        .collect();

    let (structs, named) = struct_table(&env, &mut tys).map_err(|message| LinkError {
        message: format!("in `{name}`: {message}"),
        file: kernel.file.to_string(),
        span: SrcSpan {
            line: kernel.line,
            column: 0,
        },
    })?;
    let table = std::cell::RefCell::new(StructTable::new(structs));
    let finalize = |owner: Owner, l: &Lowered| {
        let mut fin = Finalizer::new(&tys, true, &named, &table, &fn_ids);
        let f = fin.function(&l.hfn);
        let shared = fin.shared_arrays(&l.hfn);
        let dynamic = fin.dynamic_shared(&l.hfn);
        if fin.errors.is_empty() {
            Ok((f, shared, dynamic))
        } else {
            Err(fail(owner, fin.errors))
        }
    };
    let (entry_fn, shared_arrays, dynamic_shared) = finalize(Owner::Kernel, &entry)?;
    let mut device = Vec::new();
    for key in &order {
        device.push(finalize(Owner::Device(*key), &lowered[key])?.0);
    }
    let structs = table.into_inner().defs;
    let kernel = Kernel {
        name,
        mode: options.mode,
        threads: match options.mode {
            KernelMode::Ring => options.threads,
            KernelMode::Batch => 0,
        },
        bounds_checks: options.bounds_checks,
        file: kernel.file.to_string(),
        entry: entry_fn,
        device_fns: device,
        structs,
        fault_sites: sites,
        shared: shared_arrays,
        dynamic_shared,
    };
    check_shared_bytes(&kernel)?;
    check_dynamic_shared_align(&kernel)?;
    Ok(kernel)
}

/// The instantiation of `item` for `args` (folded) and its name; `item`
/// itself when it is not generic.
fn instance(
    item: syn::ItemFn,
    args: &[GenericArg],
) -> Result<(syn::ItemFn, String), Vec<syn::Error>> {
    let name = item.sig.ident.to_string();
    let at = |msg: String| vec![syn::Error::new(item.sig.ident.span(), msg)];
    if item.sig.generics.params.is_empty() && item.sig.generics.where_clause.is_none() {
        if !args.is_empty() {
            return Err(at(format!(
                "`{name}` is not generic but was given generic arguments"
            )));
        }
        return Ok((item, name));
    }
    let params = generics::generic_params(&item.sig)?;
    let mut inst = generics::instantiate(&item, &params, args).map_err(at)?;
    fold::fold(&mut inst);
    Ok((inst, generics::instance_name(&name, args)))
}

/// The kernel's shared arrays fit in [`MAX_SHARED_BYTES`]; the error
/// points at the array that crosses the limit.
fn check_shared_bytes(kernel: &Kernel) -> Result<(), LinkError> {
    let mut total = 0u64;
    let mut crossing = None;
    let sizes: Vec<(String, String, u64)> = kernel
        .shared
        .iter()
        .map(|a| {
            let ty = Ty::Array(Box::new(a.elem.clone()), a.len);
            let bytes = kernel.size_of(&a.elem) as u64 * a.len as u64;
            total += bytes;
            if total > MAX_SHARED_BYTES as u64 && crossing.is_none() {
                crossing = Some(a.span);
            }
            (a.name.clone(), kernel.ty_name(&ty), bytes)
        })
        .collect();
    let Some(span) = crossing else {
        return Ok(());
    };
    Err(LinkError {
        message: format!(
            "in `{}`: {}",
            kernel.name,
            too_many_shared_bytes(&kernel.name, &sizes)
        ),
        file: kernel.file.clone(),
        span,
    })
}

/// Every view of dynamic shared memory has an element type aligned to at
/// most [`DYNAMIC_SHARED_ALIGN`], the alignment the area has.
fn check_dynamic_shared_align(kernel: &Kernel) -> Result<(), LinkError> {
    let Some((view, align)) = kernel
        .dynamic_shared
        .iter()
        .map(|d| (d, kernel.align_of(&d.elem)))
        .find(|(_, align)| *align > DYNAMIC_SHARED_ALIGN)
    else {
        return Ok(());
    };
    Err(LinkError {
        message: format!(
            "in `{}`: `{}` views dynamic shared memory as `{}`, which is aligned to {align} \
             bytes, but dynamic shared memory is aligned to {DYNAMIC_SHARED_ALIGN}: use an \
             element type aligned to at most {DYNAMIC_SHARED_ALIGN} bytes, or a \
             `shared_array::<T, N>()`",
            kernel.name,
            view.name,
            kernel.ty_name(&view.elem)
        ),
        file: kernel.file.clone(),
        span: view.span,
    })
}

/// Checks the signature and lowers the body; any error fails, with the
/// function it belongs to (errors in a closure passed from another
/// function are that function's).
fn lower_checked(
    shared: &mut LowerCx<'_, '_>,
    item: &syn::ItemFn,
    role: FnRole,
    line: u32,
    self_ty: Option<&str>,
    owner: Owner,
) -> Result<Lowered, (Owner, Vec<syn::Error>)> {
    let mut errors = Vec::new();
    let sig = check_signature(
        item,
        role,
        &mut TypeCx {
            types: shared.types,
            env: shared.env,
            struct_paths: shared.struct_paths,
            const_paths: shared.const_paths,
            consts: shared.consts,
            self_ty,
        },
        &mut errors,
    );
    if !errors.is_empty() {
        return Err((owner, errors));
    }
    let l = lower_fn(shared, item, role, sig, line, self_ty, owner);
    if let Some((origin, _)) = l.foreign_errors.first() {
        let origin = *origin;
        let errors = l
            .foreign_errors
            .into_iter()
            .filter(|(o, _)| *o == origin)
            .map(|(_, e)| e)
            .collect();
        return Err((origin, errors));
    }
    if l.errors.is_empty() {
        Ok(l)
    } else {
        Err((owner, l.errors))
    }
}

/// The type of the `#[device] impl` block an item comes from: `Vec2` of
/// `Vec2::dot` (items of impl blocks are linked under `Type::name`).
pub(super) fn impl_owner(name: &str) -> Option<&str> {
    name.rsplit_once("::").map(|(owner, _)| owner)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    Active,
    Done,
}

/// Post-order over the call graph from `key`, called at `span` in `caller`.
fn visit(
    key: CalleeKey,
    span: Span,
    caller: Owner,
    lowered: &HashMap<CalleeKey, Lowered>,
    state: &mut HashMap<CalleeKey, Visit>,
    order: &mut Vec<CalleeKey>,
) -> Result<(), (Owner, syn::Error)> {
    match state.get(&key) {
        Some(Visit::Done) => return Ok(()),
        Some(Visit::Active) => {
            let name = &lowered[&key].hfn.name;
            return Err((
                caller,
                syn::Error::new(
                    span,
                    format!(
                        "this call makes `#[device] fn {name}` recursive: recursion is not \
                         supported on the GPU; rewrite it as a loop"
                    ),
                ),
            ));
        }
        None => {}
    }
    state.insert(key, Visit::Active);
    for (callee, at) in &lowered[&key].calls {
        visit(*callee, *at, Owner::Device(key), lowered, state, order)?;
    }
    state.insert(key, Visit::Done);
    order.push(key);
    Ok(())
}

/// A link error at the first error's position in `src`'s file.
fn link_error(src: &ItemSource<'_>, errors: Vec<syn::Error>) -> LinkError {
    let count = errors.len();
    let first = errors
        .into_iter()
        .next()
        .unwrap_or_else(|| syn::Error::new(Span::call_site(), "unknown link error"));
    let start = first.span().start();
    let mut message = format!("in `{}`: {}", src.name, first);
    if count > 1 {
        message.push_str(&format!(" ({} more error(s) in this function)", count - 1));
    }
    LinkError {
        message,
        file: src.file.to_string(),
        span: SrcSpan {
            line: src.line + (start.line as u32).saturating_sub(1),
            column: start.column as u32,
        },
    }
}
