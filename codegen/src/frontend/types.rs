//! Type variables for the front end's Rust-like inference.
//!
//! Every expression gets a [`TyVar`]; constraints unify variables
//! (union-find). An open variable has a [`Kind`]: an unsuffixed integer
//! literal is `Int` (any integer type, `i32` when nothing else decides), an
//! unsuffixed float literal is `Float` (`f64` by default).
//!
//! A variable is *external* when its type comes from something the macro
//! cannot see (a struct field, a `#[device]` fn's signature). Unifying
//! spreads the flag, so [`Types::is_external`] says whether a type depends on
//! outside items — then `annotate_lets` leaves that `let` alone.

use crate::ir::Scalar;

/// A type variable; index into [`Types`].
pub(super) type TyVar = u32;
/// A struct name interned in [`Types`].
pub(super) type StructKey = u32;
/// A tuple's element list interned in [`Types`].
pub(super) type TupleKey = u32;

/// A known type constructor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Unit,
    Scalar(Scalar),
    Array(TyVar, u32),
    /// A named `DeviceType`: a struct, or (known at link time) a C-like
    /// enum.
    Struct(StructKey),
    /// `(a, b, …)` with at least one element (`()` is [`Shape::Unit`]).
    Tuple(TupleKey),
    /// `Option<T>`.
    Option(TyVar),
    /// An instantiation of a generic `DeviceType` struct (`Pair<f32>`, or
    /// `Pair<{float}>` while its arguments are being inferred): the
    /// struct's name (interned like a struct's) and its arguments.
    Generic(StructKey, TupleKey),
}

/// What an open variable may still become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Any,
    /// Some integer type (`{integer}`).
    Int,
    /// Some float type (`{float}`).
    Float,
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Link(TyVar),
    Open { kind: Kind, external: bool },
    Known { shape: Shape, external: bool },
}

/// The inference state of one link (or one macro-time analysis).
#[derive(Debug, Default)]
pub(super) struct Types {
    slots: Vec<Slot>,
    struct_names: Vec<String>,
    tuples: Vec<Vec<TyVar>>,
}

/// Two types that cannot be the same.
#[derive(Debug)]
pub(super) struct Mismatch;

impl Types {
    pub(super) fn new() -> Self {
        Types::default()
    }

    fn push(&mut self, slot: Slot) -> TyVar {
        self.slots.push(slot);
        (self.slots.len() - 1) as TyVar
    }

    /// A fresh variable of `kind`.
    pub(super) fn fresh(&mut self, kind: Kind) -> TyVar {
        self.push(Slot::Open {
            kind,
            external: false,
        })
    }

    /// A fresh variable standing for a type only the linker knows.
    pub(super) fn fresh_external(&mut self) -> TyVar {
        self.push(Slot::Open {
            kind: Kind::Any,
            external: true,
        })
    }

    /// A variable bound to `shape`.
    pub(super) fn known(&mut self, shape: Shape) -> TyVar {
        self.push(Slot::Known {
            shape,
            external: false,
        })
    }

    pub(super) fn scalar(&mut self, s: Scalar) -> TyVar {
        self.known(Shape::Scalar(s))
    }

    pub(super) fn unit(&mut self) -> TyVar {
        self.known(Shape::Unit)
    }

    /// A tuple type of `elems` (at least one).
    pub(super) fn tuple(&mut self, elems: Vec<TyVar>) -> TyVar {
        self.tuples.push(elems);
        let key = (self.tuples.len() - 1) as TupleKey;
        self.known(Shape::Tuple(key))
    }

    /// An instantiation of the generic struct `name` with `args`.
    pub(super) fn generic(&mut self, name: &str, args: Vec<TyVar>) -> TyVar {
        let key = self.struct_key(name);
        self.tuples.push(args);
        let args = (self.tuples.len() - 1) as TupleKey;
        self.known(Shape::Generic(key, args))
    }

    /// The name of an instantiation whose arguments are known (an open
    /// literal takes rustc's fallback type): `Pair<f32>`.
    pub(super) fn instance_name(&self, key: StructKey, args: TupleKey) -> Option<String> {
        let names: Vec<&str> = self
            .instance_args(args)?
            .iter()
            .map(|s| s.rust_name())
            .collect();
        Some(format!("{}<{}>", self.struct_name(key), names.join(", ")))
    }

    /// The arguments of an instantiation, when known (an open literal
    /// takes rustc's fallback type).
    pub(super) fn instance_args(&self, args: TupleKey) -> Option<Vec<Scalar>> {
        self.tuple_elems(args)
            .iter()
            .map(|a| self.scalar_of(*a).or_else(|| self.default_scalar(*a)))
            .collect()
    }

    /// The key of a struct name interned before, if it was.
    pub(super) fn find_struct_key(&self, name: &str) -> Option<StructKey> {
        self.struct_names
            .iter()
            .position(|n| n == name)
            .map(|i| i as StructKey)
    }

    /// Every instantiation of a generic struct that some known type names.
    pub(super) fn used_generics(&self) -> Vec<(StructKey, TupleKey)> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Known {
                    shape: Shape::Generic(k, a),
                    ..
                } => Some((*k, *a)),
                _ => None,
            })
            .collect()
    }

    /// The element types of a tuple shape.
    pub(super) fn tuple_elems(&self, key: TupleKey) -> &[TyVar] {
        &self.tuples[key as usize]
    }

    /// The element types of `v` when it is a tuple.
    pub(super) fn tuple_of(&self, v: TyVar) -> Option<Vec<TyVar>> {
        match self.shape(v) {
            Some(Shape::Tuple(k)) => Some(self.tuple_elems(k).to_vec()),
            _ => None,
        }
    }

    /// Interns a struct name.
    pub(super) fn struct_key(&mut self, name: &str) -> StructKey {
        if let Some(i) = self.struct_names.iter().position(|n| n == name) {
            return i as StructKey;
        }
        self.struct_names.push(name.to_string());
        (self.struct_names.len() - 1) as StructKey
    }

    pub(super) fn struct_name(&self, key: StructKey) -> &str {
        &self.struct_names[key as usize]
    }

    /// Every struct that some known type names.
    pub(super) fn used_structs(&self) -> Vec<StructKey> {
        let mut keys: Vec<StructKey> = self
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Known {
                    shape: Shape::Struct(k),
                    ..
                } => Some(*k),
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn find(&self, mut v: TyVar) -> TyVar {
        while let Slot::Link(next) = self.slots[v as usize] {
            v = next;
        }
        v
    }

    /// The shape `v` is bound to, if known yet.
    pub(super) fn shape(&self, v: TyVar) -> Option<Shape> {
        match self.slots[self.find(v) as usize] {
            Slot::Known { shape, .. } => Some(shape),
            _ => None,
        }
    }

    /// The scalar `v` is bound to, if any.
    pub(super) fn scalar_of(&self, v: TyVar) -> Option<Scalar> {
        match self.shape(v) {
            Some(Shape::Scalar(s)) => Some(s),
            _ => None,
        }
    }

    /// The kind of an open variable (`None` when it is known).
    pub(super) fn open_kind(&self, v: TyVar) -> Option<Kind> {
        match self.slots[self.find(v) as usize] {
            Slot::Open { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Whether `v` (or any part of it) depends on items the macro cannot see.
    pub(super) fn is_external(&self, v: TyVar) -> bool {
        match self.slots[self.find(v) as usize] {
            Slot::Open { external, .. } => external,
            Slot::Known { shape, external } => {
                external
                    || match shape {
                        Shape::Array(elem, _) | Shape::Option(elem) => self.is_external(elem),
                        Shape::Tuple(k) | Shape::Generic(_, k) => {
                            self.tuple_elems(k).iter().any(|e| self.is_external(*e))
                        }
                        _ => false,
                    }
            }
            Slot::Link(_) => unreachable!("find returns a root"),
        }
    }

    /// The scalar an open literal variable defaults to, like rustc.
    pub(super) fn default_scalar(&self, v: TyVar) -> Option<Scalar> {
        match self.open_kind(v)? {
            Kind::Int => Some(Scalar::I32),
            Kind::Float => Some(Scalar::F64),
            Kind::Any => None,
        }
    }

    /// Makes `a` and `b` the same type.
    pub(super) fn unify(&mut self, a: TyVar, b: TyVar) -> Result<(), Mismatch> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return Ok(());
        }
        match (self.slots[ra as usize], self.slots[rb as usize]) {
            (
                Slot::Open {
                    kind: ka,
                    external: ea,
                },
                Slot::Open {
                    kind: kb,
                    external: eb,
                },
            ) => {
                let kind = match (ka, kb) {
                    (Kind::Any, k) | (k, Kind::Any) => k,
                    (x, y) if x == y => x,
                    _ => return Err(Mismatch),
                };
                self.slots[rb as usize] = Slot::Link(ra);
                self.slots[ra as usize] = Slot::Open {
                    kind,
                    external: ea || eb,
                };
                Ok(())
            }
            (
                Slot::Open { kind, external },
                Slot::Known {
                    shape,
                    external: e2,
                },
            )
            | (
                Slot::Known {
                    shape,
                    external: e2,
                },
                Slot::Open { kind, external },
            ) => {
                let (o, k) = if matches!(self.slots[ra as usize], Slot::Open { .. }) {
                    (ra, rb)
                } else {
                    (rb, ra)
                };
                // The occurs check: `a = [a]` would make an infinite type.
                if !kind_admits(kind, shape) || self.occurs(o, k) {
                    return Err(Mismatch);
                }
                let (open, known) = if matches!(self.slots[ra as usize], Slot::Open { .. }) {
                    (ra, rb)
                } else {
                    (rb, ra)
                };
                self.slots[open as usize] = Slot::Link(known);
                self.slots[known as usize] = Slot::Known {
                    shape,
                    external: external || e2,
                };
                Ok(())
            }
            (
                Slot::Known {
                    shape: sa,
                    external: ea,
                },
                Slot::Known {
                    shape: sb,
                    external: eb,
                },
            ) => {
                match (sa, sb) {
                    (Shape::Array(ea_elem, la), Shape::Array(eb_elem, lb)) if la == lb => {
                        self.unify(ea_elem, eb_elem)?
                    }
                    (Shape::Option(x), Shape::Option(y)) => self.unify(x, y)?,
                    (Shape::Generic(kx, x), Shape::Generic(ky, y)) if kx == ky => {
                        let (xs, ys) = (self.tuple_elems(x).to_vec(), self.tuple_elems(y).to_vec());
                        if xs.len() != ys.len() {
                            return Err(Mismatch);
                        }
                        for (a, b) in xs.into_iter().zip(ys) {
                            self.unify(a, b)?;
                        }
                    }
                    (Shape::Tuple(x), Shape::Tuple(y)) => {
                        let (xs, ys) = (self.tuple_elems(x).to_vec(), self.tuple_elems(y).to_vec());
                        if xs.len() != ys.len() {
                            return Err(Mismatch);
                        }
                        for (a, b) in xs.into_iter().zip(ys) {
                            self.unify(a, b)?;
                        }
                    }
                    (x, y) if x == y => {}
                    _ => return Err(Mismatch),
                }
                self.slots[rb as usize] = Slot::Link(ra);
                self.slots[ra as usize] = Slot::Known {
                    shape: sa,
                    external: ea || eb,
                };
                Ok(())
            }
            _ => unreachable!("find returns a root"),
        }
    }

    /// Whether the root `var` appears inside the type `v`.
    fn occurs(&self, var: TyVar, v: TyVar) -> bool {
        let r = self.find(v);
        if r == var {
            return true;
        }
        match self.slots[r as usize] {
            Slot::Known {
                shape: Shape::Array(elem, _) | Shape::Option(elem),
                ..
            } => self.occurs(var, elem),
            Slot::Known {
                shape: Shape::Tuple(k) | Shape::Generic(_, k),
                ..
            } => self.tuple_elems(k).iter().any(|e| self.occurs(var, *e)),
            _ => false,
        }
    }

    /// Requires `v` to be an integer (`Kind::Int`) or a float (`Kind::Float`).
    pub(super) fn require_kind(&mut self, v: TyVar, want: Kind) -> Result<(), Mismatch> {
        let r = self.find(v);
        match self.slots[r as usize] {
            Slot::Open { kind, external } => {
                let kind = match (kind, want) {
                    (Kind::Any, k) | (k, Kind::Any) => k,
                    (x, y) if x == y => x,
                    _ => return Err(Mismatch),
                };
                self.slots[r as usize] = Slot::Open { kind, external };
                Ok(())
            }
            Slot::Known { shape, .. } if kind_admits(want, shape) => Ok(()),
            _ => Err(Mismatch),
        }
    }

    /// A Rust-like spelling for messages: `f32`, `[u32; 4]`, `{integer}`, `_`.
    pub(super) fn describe(&self, v: TyVar) -> String {
        match self.slots[self.find(v) as usize] {
            Slot::Open {
                kind: Kind::Int, ..
            } => "{integer}".into(),
            Slot::Open {
                kind: Kind::Float, ..
            } => "{float}".into(),
            Slot::Open { .. } => "_".into(),
            Slot::Known { shape, .. } => match shape {
                Shape::Unit => "()".into(),
                Shape::Scalar(s) => s.rust_name().into(),
                Shape::Array(elem, len) => format!("[{}; {}]", self.describe(elem), len),
                Shape::Struct(k) => self.struct_name(k).into(),
                Shape::Generic(k, args) => {
                    let args: Vec<String> = self
                        .tuple_elems(args)
                        .iter()
                        .map(|a| self.describe(*a))
                        .collect();
                    format!("{}<{}>", self.struct_name(k), args.join(", "))
                }
                Shape::Tuple(k) => {
                    let elems: Vec<String> = self
                        .tuple_elems(k)
                        .iter()
                        .map(|e| self.describe(*e))
                        .collect();
                    if elems.len() == 1 {
                        format!("({},)", elems[0])
                    } else {
                        format!("({})", elems.join(", "))
                    }
                }
                Shape::Option(inner) => format!("Option<{}>", self.describe(inner)),
            },
            Slot::Link(_) => unreachable!("find returns a root"),
        }
    }
}

fn kind_admits(kind: Kind, shape: Shape) -> bool {
    match (kind, shape) {
        (Kind::Any, _) => true,
        (Kind::Int, Shape::Scalar(s)) => s.is_int(),
        (Kind::Float, Shape::Scalar(s)) => s.is_float(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_kinds_unify_with_matching_scalars_only() {
        let mut t = Types::new();
        let i = t.fresh(Kind::Int);
        let f = t.fresh(Kind::Float);
        assert!(t.unify(i, f).is_err());
        let u = t.scalar(Scalar::Usize);
        t.unify(i, u).unwrap();
        assert_eq!(t.scalar_of(i), Some(Scalar::Usize));
        let b = t.scalar(Scalar::Bool);
        assert!(t.unify(f, b).is_err());
        assert_eq!(t.describe(f), "{float}");
        assert_eq!(t.default_scalar(f), Some(Scalar::F64));
    }

    #[test]
    fn infinite_types_are_rejected() {
        let mut t = Types::new();
        let a = t.fresh(Kind::Any);
        let arr = t.known(Shape::Array(a, 1));
        assert!(t.unify(a, arr).is_err());
        assert!(t.unify(arr, a).is_err());
    }

    #[test]
    fn arrays_unify_elementwise_and_external_spreads() {
        let mut t = Types::new();
        let e1 = t.fresh(Kind::Float);
        let a1 = t.known(Shape::Array(e1, 3));
        let x = t.fresh_external();
        let a2 = t.known(Shape::Array(x, 3));
        assert!(!t.is_external(a1));
        t.unify(a1, a2).unwrap();
        assert!(t.is_external(a1));
        let f32v = t.scalar(Scalar::F32);
        t.unify(x, f32v).unwrap();
        assert_eq!(t.describe(a1), "[f32; 3]");
        let e3 = t.fresh(Kind::Any);
        let a3 = t.known(Shape::Array(e3, 4));
        assert!(t.unify(a1, a3).is_err());
    }
}
