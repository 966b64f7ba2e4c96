//! What the front end knows about items outside the function it lowers.
//!
//! At macro time nothing ([`Env::Macro`]): struct fields and `#[device]`
//! signatures become fresh external type variables. At link time
//! ([`Env::Link`]) every `DeviceType` layout and `#[device]` source is known.

use std::collections::HashMap;

use super::closure_param::{ClosureArg, MAX_CLOSURE_DEPTH};
use super::hir::{CalleeKey, Owner};
use super::types::{Shape, StructKey, TupleKey, TyVar, Types};
use crate::ir::{self, FieldDef, Scalar, StructDef, StructId, Ty, DIM3};
use crate::layout::{EnumLayout, FieldShape, GenericStruct, StructLayout, TypeDesc};
use crate::ItemSource;

/// The front end's view of external items.
#[derive(Clone, Copy)]
pub(super) enum Env<'a> {
    Macro,
    Link(&'a LinkEnv<'a>),
}

/// Everything the linker was given.
pub(super) struct LinkEnv<'a> {
    /// By the name kernels know them by (`Tally`, `Pair<f32>`); grows as
    /// instantiations of generic structs are made.
    structs: std::cell::RefCell<HashMap<String, &'static StructLayout>>,
    enums: HashMap<&'static str, &'static EnumLayout>,
    /// Generic structs, by name.
    generics: HashMap<&'static str, &'static GenericStruct>,
    pub fns: Vec<DeviceFnSource<'a>>,
    /// The kernel being linked.
    pub kernel: ItemSource<'a>,
    /// The instantiations of generic device fns (and of device fns for
    /// the closures passed to them) made so far; the callee key of
    /// instance `i` is `fns.len() + i`.
    instances: std::cell::RefCell<Vec<FnInstance>>,
}

/// One instantiation of a generic `#[device]` fn, or of a `#[device]` fn
/// for the closures a call passes it.
struct FnInstance {
    /// The fn whose source it is.
    generic: CalleeKey,
    args: Vec<crate::GenericArg>,
    item: syn::ItemFn,
    /// For closures: the callee instantiated (the fn, or its generic
    /// instantiation), and the closures, one per closure parameter.
    of: Option<CalleeKey>,
    closures: Vec<ClosureArg>,
    depth: u32,
}

/// One `#[device]` fn's source, parsed once.
pub(super) struct DeviceFnSource<'a> {
    pub src: ItemSource<'a>,
    pub parsed: Result<syn::ItemFn, syn::Error>,
}

/// A field as lowering sees it.
pub(super) struct FieldInfo {
    pub name: String,
    pub ty: TyVar,
}

impl<'a> LinkEnv<'a> {
    /// Collects every struct reachable from `types`; two different layouts
    /// under one name are an error (the message says which).
    pub fn new(
        kernel: ItemSource<'a>,
        types: &[&'static TypeDesc],
        fns: &[ItemSource<'a>],
    ) -> Result<Self, String> {
        let mut named = Named::default();
        for desc in types {
            collect_structs(desc, &mut named)?;
        }
        let Named {
            structs,
            enums,
            generics,
        } = named;
        if let Some(name) = enums
            .keys()
            .find(|n| structs.contains_key(**n) || generics.contains_key(*n))
        {
            return Err(format!(
                "a struct and an enum both named `{name}` reach this kernel: spindle identifies \
                 DeviceTypes by name, so rename one"
            ));
        }
        if let Some(user) = structs.get(DIM3) {
            if !same_as_dim3(user) {
                return Err(format!(
                    "a DeviceType named `{DIM3}` with a different layout than spindle's built-in \
                     `Dim3 {{ x, y, z: u32 }}` is used: rename the struct"
                ));
            }
        }
        let fns = fns
            .iter()
            .map(|src| DeviceFnSource {
                src: *src,
                parsed: parse_item(src.source),
            })
            .collect();
        if let Some(name) = generics.keys().find(|n| structs.contains_key(**n)) {
            return Err(format!(
                "a struct and a generic struct both named `{name}` reach this kernel: spindle \
                 identifies DeviceTypes by name, so rename one"
            ));
        }
        Ok(LinkEnv {
            structs: std::cell::RefCell::new(structs),
            enums,
            generics,
            fns,
            kernel,
            instances: Default::default(),
        })
    }

    /// The source record of callee `key` (an instantiation shares its
    /// generic fn's).
    pub fn src(&self, key: CalleeKey) -> ItemSource<'a> {
        self.fns[self.base(key) as usize].src
    }

    /// What `Self` is in callee `key` when it is an item of a `#[device]
    /// impl` block: the block's type; for an instantiation of a method of
    /// a generic struct's block, that instantiation of the struct (its
    /// arguments are the first of the method's).
    pub fn self_ty(&self, key: CalleeKey) -> Option<String> {
        let owner = super::link::impl_owner(self.src(key).name)?;
        let instance = (key as usize).checked_sub(self.fns.len());
        match (self.generics.get(owner), instance) {
            (Some(g), Some(i)) => {
                let list = self.instances.borrow();
                let args: Vec<String> = list[i].args[..g.params.len().min(list[i].args.len())]
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                Some(format!("{owner}<{}>", args.join(", ")))
            }
            // The generic method itself (its signature read before the
            // call's instantiation is known): arguments still unknown.
            (Some(g), None) => {
                let unknown = vec!["_"; g.params.len()];
                Some(format!("{owner}<{}>", unknown.join(", ")))
            }
            (None, _) => Some(owner.to_string()),
        }
    }

    /// The number of type parameters of the generic struct whose
    /// `#[device] impl` block callee `key` comes from (0 otherwise).
    pub fn impl_params(&self, key: CalleeKey) -> usize {
        super::link::impl_owner(self.src(key).name)
            .and_then(|o| self.generics.get(o))
            .map_or(0, |g| g.params.len())
    }

    /// The generic fn callee `key` instantiates, or `key` itself.
    fn base(&self, key: CalleeKey) -> CalleeKey {
        match (key as usize).checked_sub(self.fns.len()) {
            Some(i) => self.instances.borrow()[i].generic,
            None => key,
        }
    }

    /// The item of callee `key`: an instantiation with its arguments
    /// substituted and folded.
    pub fn item(&self, key: CalleeKey) -> Result<syn::ItemFn, syn::Error> {
        match (key as usize).checked_sub(self.fns.len()) {
            Some(i) => Ok(self.instances.borrow()[i].item.clone()),
            None => self.fns[key as usize].parsed.clone(),
        }
    }

    /// The generic parameters of callee `key` (empty when it is not
    /// generic); an error when they are not valid.
    pub fn generic_params(
        &self,
        key: CalleeKey,
    ) -> Result<Vec<super::GenericParam>, Vec<syn::Error>> {
        if key as usize >= self.fns.len() {
            return Ok(Vec::new());
        }
        match &self.fns[key as usize].parsed {
            Ok(item) if super::is_generic(item) => super::generic_params(&item.sig),
            _ => Ok(Vec::new()),
        }
    }

    /// The callee key of generic fn `key` instantiated for `args`, made
    /// now if it is the first call with them.
    pub fn instance(
        &self,
        key: CalleeKey,
        params: &[super::GenericParam],
        args: &[crate::GenericArg],
    ) -> Result<CalleeKey, String> {
        let found = self
            .instances
            .borrow()
            .iter()
            .position(|i| i.generic == key && i.args == args);
        if let Some(i) = found {
            return Ok((self.fns.len() + i) as CalleeKey);
        }
        let generic = self.fns[key as usize]
            .parsed
            .as_ref()
            .map_err(|e| e.to_string())?;
        let mut item = super::generics::instantiate(generic, params, args)?;
        super::fold::fold(&mut item);
        let mut list = self.instances.borrow_mut();
        list.push(FnInstance {
            generic: key,
            args: args.to_vec(),
            item,
            of: None,
            closures: Vec::new(),
            depth: 0,
        });
        Ok((self.fns.len() + list.len() - 1) as CalleeKey)
    }

    /// The callee key of `key` (a fn with closure parameters, or a generic
    /// instantiation of one) instantiated for `closures`, made now if it is
    /// the first call with them. An error when the closures nest deeper
    /// than recursion through closures allows.
    pub fn closure_instance(
        &self,
        key: CalleeKey,
        closures: Vec<ClosureArg>,
    ) -> Result<CalleeKey, String> {
        let found = self.instances.borrow().iter().position(|i| {
            i.of == Some(key)
                && i.closures.len() == closures.len()
                && i.closures.iter().zip(&closures).all(|(a, b)| a.same(b))
        });
        if let Some(i) = found {
            return Ok((self.fns.len() + i) as CalleeKey);
        }
        let depth = 1 + closures.iter().map(|c| c.origin.depth).max().unwrap_or(0);
        if depth > MAX_CLOSURE_DEPTH {
            return Err(format!(
                "closures are passed through {MAX_CLOSURE_DEPTH} nested calls of `{}`: a \
                 function that passes a new closure to itself is recursive, which the GPU \
                 cannot do; rewrite it as a loop",
                self.src(key).name
            ));
        }
        let item = self.item(key).map_err(|e| e.to_string())?;
        let generic = self.base(key);
        let args = match (key as usize).checked_sub(self.fns.len()) {
            Some(i) => self.instances.borrow()[i].args.clone(),
            None => Vec::new(),
        };
        let mut list = self.instances.borrow_mut();
        list.push(FnInstance {
            generic,
            args,
            item,
            of: Some(key),
            closures,
            depth,
        });
        Ok((self.fns.len() + list.len() - 1) as CalleeKey)
    }

    /// The closures instance `key` was made for (none for other callees).
    pub fn closures(&self, key: CalleeKey) -> Vec<ClosureArg> {
        match (key as usize).checked_sub(self.fns.len()) {
            Some(i) => self.instances.borrow()[i].closures.clone(),
            None => Vec::new(),
        }
    }

    /// How many closure instantiations deep `owner` is.
    pub fn depth(&self, owner: Owner) -> u32 {
        match owner {
            Owner::Kernel => 0,
            Owner::Device(key) => match (key as usize).checked_sub(self.fns.len()) {
                Some(i) => self.instances.borrow()[i].depth,
                None => 0,
            },
        }
    }

    /// The source record of the kernel or a device fn.
    pub fn owner_src(&self, owner: Owner) -> ItemSource<'a> {
        match owner {
            Owner::Kernel => self.kernel,
            Owner::Device(key) => self.src(key),
        }
    }
}

/// The named types reachable from the kernel's type descriptions.
#[derive(Default)]
struct Named {
    structs: HashMap<String, &'static StructLayout>,
    enums: HashMap<&'static str, &'static EnumLayout>,
    generics: HashMap<&'static str, &'static GenericStruct>,
}

/// Collects a generic struct's definition, and the types its fields name.
fn collect_generic(g: &'static GenericStruct, out: &mut Named) -> Result<(), String> {
    if let Some(seen) = out.generics.get(g.name) {
        if std::ptr::eq(*seen, g) || format!("{seen:?}") == format!("{g:?}") {
            return Ok(());
        }
        return Err(format!(
            "two different generic structs named `{}` reach this kernel: spindle identifies \
             DeviceTypes by name, so rename one",
            g.name
        ));
    }
    out.generics.insert(g.name, g);
    fn shape(s: &FieldShape, out: &mut Named) -> Result<(), String> {
        match s {
            FieldShape::Param(_) => Ok(()),
            FieldShape::Known(d) => collect_structs(d, out),
            FieldShape::Array(e, _) => shape(e, out),
            FieldShape::Generic(inner, args) => {
                collect_generic(inner, out)?;
                args.iter().try_for_each(|a| shape(a, out))
            }
        }
    }
    g.fields.iter().try_for_each(|f| shape(&f.ty, out))
}

fn collect_structs(desc: &'static TypeDesc, out: &mut Named) -> Result<(), String> {
    match desc {
        TypeDesc::Scalar(_) => Ok(()),
        TypeDesc::Array { elem, .. } => collect_structs(elem, out),
        TypeDesc::Enum(e) => {
            if let Some(seen) = out.enums.get(e.name) {
                let same = std::ptr::eq(*seen, *e)
                    || (seen.repr == e.repr
                        && seen.variants.len() == e.variants.len()
                        && seen
                            .variants
                            .iter()
                            .zip(e.variants)
                            .all(|(a, b)| a.name == b.name && a.value == b.value));
                if !same {
                    return Err(format!(
                        "two different enums named `{}` reach this kernel: spindle identifies \
                         DeviceTypes by name, so rename one",
                        e.name
                    ));
                }
                return Ok(());
            }
            out.enums.insert(e.name, e);
            Ok(())
        }
        TypeDesc::Generic(g) => collect_generic(g, out),
        TypeDesc::Struct(layout) => {
            let name = layout.rust_name();
            let out_structs = &mut out.structs;
            if let Some(seen) = out_structs.get(&name) {
                if !same_layout(seen, layout) {
                    return Err(format!(
                        "two different types named `{}` reach this kernel (size {} vs {}, fields \
                         {} vs {}): spindle identifies DeviceType structs by name, so rename one",
                        name,
                        seen.size,
                        layout.size,
                        field_list(seen),
                        field_list(layout)
                    ));
                }
                return Ok(());
            }
            out_structs.insert(name, layout);
            for f in layout.fields {
                collect_structs(f.ty, out)?;
            }
            Ok(())
        }
    }
}

/// A `#[device]` fn, or an associated `const` of a `#[device] impl`
/// block as the function that computes it.
fn parse_item(source: &str) -> Result<syn::ItemFn, syn::Error> {
    match syn::parse_str::<syn::Item>(source)? {
        syn::Item::Fn(mut f) => {
            // Its problems were reported when the macro checked it.
            match super::closure_param::normalize(&mut f).into_iter().next() {
                None => Ok(f),
                Some(e) => Err(e),
            }
        }
        syn::Item::Const(c) => Ok(super::const_as_fn(&c)),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a `fn` or an associated `const`",
        )),
    }
}

fn field_list(l: &StructLayout) -> String {
    let fields: Vec<String> = l
        .fields
        .iter()
        .map(|f| format!("{}: {}", f.name, f.ty.rust_name()))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn same_layout(a: &StructLayout, b: &StructLayout) -> bool {
    std::ptr::eq(a, b)
        || (a.rust_name() == b.rust_name()
            && a.size == b.size
            && a.align == b.align
            && a.fields.len() == b.fields.len()
            && a.fields.iter().zip(b.fields).all(|(x, y)| {
                x.name == y.name
                    && x.offset == y.offset
                    && x.ty.rust_name() == y.ty.rust_name()
                    && x.ty.size() == y.ty.size()
            }))
}

fn same_as_dim3(l: &StructLayout) -> bool {
    let d = ir::dim3_def();
    l.size == d.size as usize
        && l.align == d.align as usize
        && l.fields.len() == 3
        && l.fields.iter().zip(&d.fields).all(|(f, g)| {
            f.name == g.name
                && f.offset == g.offset as usize
                && matches!(f.ty, TypeDesc::Scalar(crate::ir::Scalar::U32))
        })
}

impl<'a> Env<'a> {
    pub fn is_link(&self) -> bool {
        matches!(self, Env::Link(_))
    }

    /// Whether a struct or enum of this name can be used (`Dim3` always
    /// can; at macro time every name can).
    pub fn struct_exists(&self, name: &str) -> bool {
        match self {
            Env::Macro => true,
            Env::Link(env) => {
                name == DIM3
                    || env.structs.borrow().contains_key(name)
                    || env.enums.contains_key(name)
            }
        }
    }

    /// The enum of this name (link time).
    pub fn enum_layout(&self, name: &str) -> Option<&'static EnumLayout> {
        match self {
            Env::Macro => None,
            Env::Link(env) => env.enums.get(name).copied(),
        }
    }

    /// The fields of a struct, in declaration order, or `None` when unknown
    /// (a `DeviceType` at macro time).
    pub fn struct_fields(&self, types: &mut Types, key: StructKey) -> Option<Vec<FieldInfo>> {
        let name = types.struct_name(key).to_string();
        if name == DIM3 {
            return Some(
                ir::dim3_def()
                    .fields
                    .into_iter()
                    .map(|f| FieldInfo {
                        name: f.name,
                        ty: types.scalar(crate::ir::Scalar::U32),
                    })
                    .collect(),
            );
        }
        let Env::Link(env) = self else { return None };
        if env.enums.contains_key(name.as_str()) {
            // An enum: no fields.
            return Some(Vec::new());
        }
        let layout = *env.structs.borrow().get(name.as_str())?;
        Some(
            layout
                .fields
                .iter()
                .map(|f| FieldInfo {
                    name: f.name.to_string(),
                    ty: desc_var(types, f.ty),
                })
                .collect(),
        )
    }

    /// The generic struct of this name (link time).
    pub fn generic_struct(&self, name: &str) -> Option<&'static GenericStruct> {
        match self {
            Env::Macro => None,
            Env::Link(env) => env.generics.get(name).copied(),
        }
    }

    /// The fields of the instantiation `key<args>` of a generic struct
    /// (link time): with its arguments known, the instantiation's layout
    /// (made now if it is its first use); while they are still inferred,
    /// the definition's field types over the argument variables.
    pub fn generic_fields(
        &self,
        types: &mut Types,
        key: StructKey,
        args: TupleKey,
    ) -> Result<Vec<FieldInfo>, String> {
        let Env::Link(env) = self else {
            return Err("generic struct fields are known at link time".into());
        };
        let known: Option<Vec<Scalar>> = types
            .tuple_elems(args)
            .iter()
            .map(|a| types.scalar_of(*a))
            .collect();
        let name = types.struct_name(key).to_string();
        if let Some(scalars) = known {
            let full = env.struct_instance(&name, &scalars)?;
            let layout = env.structs.borrow()[&full];
            return Ok(layout
                .fields
                .iter()
                .map(|f| FieldInfo {
                    name: f.name.to_string(),
                    ty: desc_var(types, f.ty),
                })
                .collect());
        }
        let Some(g) = env.generics.get(name.as_str()) else {
            return Err(format!(
                "no definition of the generic struct `{name}` is known"
            ));
        };
        let vars = types.tuple_elems(args).to_vec();
        Ok(g.fields
            .iter()
            .map(|f| FieldInfo {
                name: f.name.to_string(),
                ty: shape_var(types, &f.ty, &vars),
            })
            .collect())
    }

    /// The `#[device]` fn a call names (by its last path segment).
    pub fn callee(&self, name: &str) -> Option<CalleeKey> {
        let Env::Link(env) = self else { return None };
        env.fns
            .iter()
            .position(|f| f.src.name == name)
            .map(|i| i as CalleeKey)
    }
}

impl LinkEnv<'_> {
    /// The name of `name<args>` (`Pair<f32>`), its layout made and added
    /// now if it is the first use of this instantiation.
    pub fn struct_instance(&self, name: &str, args: &[Scalar]) -> Result<String, String> {
        let spelled: Vec<&str> = args.iter().map(|s| s.rust_name()).collect();
        let full = format!("{name}<{}>", spelled.join(", "));
        if self.structs.borrow().contains_key(&full) {
            return Ok(full);
        }
        let Some(g) = self.generics.get(name) else {
            return Err(format!(
                "`{name}` is not a generic DeviceType struct this kernel reaches: a generic \
                 struct needs `#[derive(DeviceType)]`"
            ));
        };
        let desc = crate::generic_layout::instantiate(g, args)?;
        let mut named = Named::default();
        collect_structs(desc, &mut named)?;
        let mut structs = self.structs.borrow_mut();
        for (n, l) in named.structs {
            structs.entry(n).or_insert(l);
        }
        Ok(full)
    }
}

/// A type variable for a field of a generic struct, over the variables of
/// its arguments.
fn shape_var(types: &mut Types, shape: &FieldShape, args: &[TyVar]) -> TyVar {
    match shape {
        FieldShape::Param(i) => args[*i],
        FieldShape::Known(d) => desc_var(types, d),
        FieldShape::Array(e, len) => {
            let e = shape_var(types, e, args);
            types.known(Shape::Array(e, *len as u32))
        }
        FieldShape::Generic(inner, inner_args) => {
            let vars = inner_args
                .iter()
                .map(|a| shape_var(types, a, args))
                .collect();
            types.generic(inner.name, vars)
        }
    }
}

/// A type variable for a described type.
pub(super) fn desc_var(types: &mut Types, desc: &TypeDesc) -> TyVar {
    match desc {
        TypeDesc::Scalar(s) => types.scalar(*s),
        TypeDesc::Array { elem, len } => {
            let e = desc_var(types, elem);
            types.known(Shape::Array(e, *len as u32))
        }
        TypeDesc::Struct(l) if !l.args.is_empty() => {
            let args = l.args.iter().map(|a| desc_var(types, a)).collect();
            types.generic(l.name, args)
        }
        TypeDesc::Struct(l) => {
            let key = types.struct_key(l.name);
            types.known(Shape::Struct(key))
        }
        TypeDesc::Enum(e) => {
            let key = types.struct_key(e.name);
            types.known(Shape::Struct(key))
        }
        // A generic struct without arguments is not a type of a value.
        TypeDesc::Generic(_) => types.fresh_external(),
    }
}

/// The struct table of a linked kernel: the used structs and everything
/// they contain, dependencies first, and the id of each struct key.
pub(super) fn struct_table(
    env: &LinkEnv<'_>,
    types: &mut Types,
) -> Result<(Vec<StructDef>, HashMap<StructKey, Ty>), String> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key = HashMap::new();
    for key in types.used_structs() {
        let name = types.struct_name(key).to_string();
        match env.enums.get(name.as_str()) {
            // In the IR an enum is its discriminant.
            Some(e) => {
                by_key.insert(key, Ty::Scalar(e.repr));
            }
            None => visit_struct(env, &name, &mut order),
        }
    }
    // Each instantiation of a generic struct by its name (`Pair<f32>`),
    // made now if it is its first use.
    for (key, args) in types.used_generics() {
        let Some(scalars) = types.instance_args(args) else {
            continue; // reported as a type that cannot be inferred
        };
        let base = types.struct_name(key).to_string();
        let name = env.struct_instance(&base, &scalars)?;
        visit_struct(env, &name, &mut order);
    }
    let ids: HashMap<String, StructId> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as StructId))
        .collect();
    let defs = order
        .iter()
        .map(
            |name| match env.structs.borrow().get(name.as_str()).copied() {
                // Lowering only lets known structs (and `Dim3`) into types.
                _ if name == DIM3 => ir::dim3_def(),
                None => unreachable!("struct `{name}` was checked to exist"),
                Some(layout) => StructDef {
                    name: name.clone(),
                    size: layout.size as u32,
                    align: layout.align as u32,
                    fields: layout
                        .fields
                        .iter()
                        .map(|f| FieldDef {
                            name: f.name.to_string(),
                            offset: f.offset as u32,
                            ty: desc_ty(f.ty, &ids),
                        })
                        .collect(),
                },
            },
        )
        .collect();
    for (name, id) in &ids {
        by_key.insert(types.struct_key(name), Ty::Struct(*id));
    }
    Ok((defs, by_key))
}

fn visit_struct(env: &LinkEnv<'_>, name: &str, order: &mut Vec<String>) {
    if order.iter().any(|n| n == name) {
        return;
    }
    let layout = env.structs.borrow().get(name).copied();
    if let Some(layout) = layout.filter(|_| name != DIM3) {
        for f in layout.fields {
            let mut d: &TypeDesc = f.ty;
            while let TypeDesc::Array { elem, .. } = d {
                d = elem;
            }
            if let TypeDesc::Struct(inner) = d {
                visit_struct(env, &inner.rust_name(), order);
            }
        }
    }
    order.push(name.to_string());
}

fn desc_ty(desc: &TypeDesc, ids: &HashMap<String, StructId>) -> Ty {
    match desc {
        TypeDesc::Scalar(s) => Ty::Scalar(*s),
        TypeDesc::Array { elem, len } => Ty::Array(Box::new(desc_ty(elem, ids)), *len as u32),
        TypeDesc::Struct(l) => Ty::Struct(ids[&l.rust_name()]),
        TypeDesc::Enum(e) => Ty::Scalar(e.repr),
        TypeDesc::Generic(_) => unreachable!("a field's type is never a generic struct"),
    }
}
