//! Intrinsics: thread geometry, float math (the `f`-suffixed CUDA functions
//! for `f32`), and integer methods with Rust's results for every width.

use super::ops::zero_extended;
use super::scalar::{float_lit, int_lit, int_max, int_min, tag, unsigned_c, wide_c};
use super::stmt::FnEmitter;
use super::Ctx;
use crate::ir::{BinOp, Expr, Intrinsic, Scalar, Ty, UnOp};

/// How many arguments an intrinsic takes (`self` included).
fn arity(i: Intrinsic) -> usize {
    use Intrinsic as I;
    match i {
        I::ThreadIdx
        | I::BlockIdx
        | I::BlockDim
        | I::GridDim
        | I::GlobalIndex
        | I::LaneId
        | I::ThreadFence
        | I::ThreadFenceBlock
        | I::ThreadFenceSystem => 0,
        I::Min
        | I::Max
        | I::Log
        | I::Atan2
        | I::Powi
        | I::Powf
        | I::Hypot
        | I::Copysign
        | I::Pow
        | I::WrappingAdd
        | I::WrappingSub
        | I::WrappingMul
        | I::SaturatingAdd
        | I::SaturatingSub
        | I::RotateLeft
        | I::RotateRight
        | I::AbsDiff => 2,
        I::Clamp | I::MulAdd => 3,
        _ => 1,
    }
}

impl FnEmitter<'_, '_> {
    pub(crate) fn intrinsic(&mut self, i: Intrinsic, args: &[Expr], ty: &Ty) -> String {
        let geometry = match i {
            Intrinsic::ThreadIdx => Some("threadIdx"),
            Intrinsic::BlockIdx => Some("blockIdx"),
            Intrinsic::BlockDim => Some("blockDim"),
            Intrinsic::GridDim => Some("gridDim"),
            _ => None,
        };
        if let Some(b) = geometry {
            let c = self.ctx.c_type(ty);
            if let Some([x, y, z]) = self.ctx.ring_block_dim(i) {
                return format!("{c}{{{x}, {y}, {z}}}");
            }
            return format!("{c}{{{b}.x, {b}.y, {b}.z}}");
        }
        if i == Intrinsic::GlobalIndex {
            return "((uint64_t)blockIdx.x * blockDim.x + threadIdx.x)".to_string();
        }
        if let Some(text) = self.ctx.thread_intrinsic(i) {
            if !args.is_empty() {
                return self.ctx.invalid(&format!("{i:?} takes no arguments"));
            }
            return text;
        }
        if args.len() != arity(i) {
            return self.ctx.invalid(&format!(
                "{i:?} takes {} arguments, got {}",
                arity(i),
                args.len()
            ));
        }
        let v = self.operands(args);
        let Some(s) = args[0].ty.as_scalar() else {
            return self.ctx.invalid(&format!("{i:?} on a non-scalar"));
        };
        if s.is_float() {
            self.ctx.float_intrinsic(i, s, &v)
        } else if s.is_int() {
            let second = args.get(1).and_then(|a| a.ty.as_scalar()).unwrap_or(s);
            self.ctx.int_intrinsic(i, s, second, &v)
        } else {
            self.ctx.invalid(&format!("{i:?} on bool"))
        }
    }
}

impl Ctx<'_> {
    /// `block_dim()` of a ring handler: the `threads = N` it was written
    /// for, as literals. The ring loop may launch more threads than the
    /// handler runs on (they only poll and copy), so CUDA's `blockDim`
    /// would be wrong there.
    pub(crate) fn ring_block_dim(&self, i: Intrinsic) -> Option<[String; 3]> {
        (i == Intrinsic::BlockDim && self.kernel.mode.is_ring()).then(|| {
            [
                format!("{}u", self.kernel.threads),
                "1u".into(),
                "1u".into(),
            ]
        })
    }

    fn float_intrinsic(&mut self, i: Intrinsic, s: Scalar, v: &[String]) -> String {
        use Intrinsic as I;
        let f32 = s == Scalar::F32;
        let c = s.c_name();
        // The CUDA math function for this width: `sqrtf` or `sqrt`.
        let m = |base: &str| {
            if f32 {
                format!("{base}f")
            } else {
                base.to_string()
            }
        };
        let call = |base: &str| format!("{}({})", m(base), v.join(", "));
        let (bits, abs_mask, exp_mask, sign_shift) = if f32 {
            ("spindle_f32_bits", "0x7fffffffu", "0x7f800000u", "31")
        } else {
            (
                "spindle_f64_bits",
                "0x7fffffffffffffffull",
                "0x7ff0000000000000ull",
                "63",
            )
        };
        match i {
            I::Abs => call("fabs"),
            I::Min => call("fmin"),
            I::Max => call("fmax"),
            I::Sqrt => call("sqrt"),
            I::Cbrt => call("cbrt"),
            I::Exp => call("exp"),
            I::Exp2 => call("exp2"),
            I::Ln => call("log"),
            I::Log2 => call("log2"),
            I::Log10 => call("log10"),
            I::Sin => call("sin"),
            I::Cos => call("cos"),
            I::Tan => call("tan"),
            I::Asin => call("asin"),
            I::Acos => call("acos"),
            I::Atan => call("atan"),
            I::Atan2 => call("atan2"),
            I::Sinh => call("sinh"),
            I::Cosh => call("cosh"),
            I::Tanh => call("tanh"),
            I::Powf => call("pow"),
            I::Floor => call("floor"),
            I::Ceil => call("ceil"),
            // Rust's `round` is half away from zero, as C's.
            I::Round => call("round"),
            I::Trunc => call("trunc"),
            I::MulAdd => call("fma"),
            I::Hypot => call("hypot"),
            I::Copysign => call("copysign"),
            // Rust: `self.ln() / base.ln()`.
            I::Log => format!("({}({}) / {}({}))", m("log"), v[0], m("log"), v[1]),
            I::Recip => format!("({} / {})", float_lit(s, 1.0), v[0]),
            // The constants Rust's std multiplies by, computed by Rust.
            I::ToDegrees => {
                let k = if f32 {
                    float_lit(s, 1f32.to_degrees() as f64)
                } else {
                    float_lit(s, 1f64.to_degrees())
                };
                format!("({} * {k})", v[0])
            }
            I::ToRadians => {
                let k = if f32 {
                    float_lit(s, 1f32.to_radians() as f64)
                } else {
                    float_lit(s, 1f64.to_radians())
                };
                format!("({} * {k})", v[0])
            }
            I::IsNan => format!("(({bits}({}) & {abs_mask}) > {exp_mask})", v[0]),
            I::IsInfinite => format!("(({bits}({}) & {abs_mask}) == {exp_mask})", v[0]),
            I::IsFinite => format!("(({bits}({}) & {exp_mask}) != {exp_mask})", v[0]),
            I::IsSignNegative => format!("(({bits}({}) >> {sign_shift}) != 0)", v[0]),
            I::IsSignPositive => format!("(({bits}({}) >> {sign_shift}) == 0)", v[0]),
            I::Clamp => {
                let name = format!("spindle_clamp_{}", tag(s));
                let f = self.helper(&name, |_| {
                    format!(
                        "__device__ __forceinline__ {c} {name}({c} x, {c} lo, {c} hi) {{\n  \
                         if (x < lo) x = lo;\n  if (x > hi) x = hi;\n  return x;\n}}\n"
                    )
                });
                format!("{f}({})", v.join(", "))
            }
            I::Signum => {
                let name = format!("spindle_signum_{}", tag(s));
                let nan = float_lit(s, f64::NAN);
                let one = float_lit(s, 1.0);
                let copysign = m("copysign");
                let f = self.helper(&name, |_| {
                    format!(
                        "__device__ __forceinline__ {c} {name}({c} x) {{\n  \
                         return x != x ? {nan} : {copysign}({one}, x);\n}}\n"
                    )
                });
                format!("{f}({})", v[0])
            }
            I::Fract => {
                let name = format!("spindle_fract_{}", tag(s));
                let trunc = m("trunc");
                let f = self.helper(&name, |_| {
                    format!("__device__ __forceinline__ {c} {name}({c} x) {{ return x - {trunc}(x); }}\n")
                });
                format!("{f}({})", v[0])
            }
            I::Powi => {
                // The algorithm of compiler-rt's __powisf2/__powidf2, which Rust's powi calls.
                let name = format!("spindle_powi_{}", tag(s));
                let one = float_lit(s, 1.0);
                let f = self.helper(&name, |_| {
                    format!(
                        "__device__ {c} {name}({c} a, int32_t b) {{\n  \
                         const bool recip = b < 0;\n  {c} r = {one};\n  for (;;) {{\n    \
                         if (b & 1) r *= a;\n    b /= 2;\n    if (b == 0) break;\n    a *= a;\n  }}\n  \
                         return recip ? {one} / r : r;\n}}\n"
                    )
                });
                format!("{f}({}, {})", v[0], v[1])
            }
            _ => self.invalid(&format!("{i:?} on {}", s.rust_name())),
        }
    }

    fn int_intrinsic(&mut self, i: Intrinsic, s: Scalar, second: Scalar, v: &[String]) -> String {
        use Intrinsic as I;
        let c = s.c_name();
        let u = unsigned_c(s);
        let w = wide_c(s);
        let bits = s.bits();
        let x = &v[0];
        let t = tag(s);
        match i {
            I::WrappingAdd => self.binary(BinOp::Add, s, s, x, &v[1]),
            I::WrappingSub => self.binary(BinOp::Sub, s, s, x, &v[1]),
            I::WrappingMul => self.binary(BinOp::Mul, s, s, x, &v[1]),
            I::WrappingNeg => self.unary(UnOp::Neg, s, x),
            I::Abs if !s.is_signed_int() => x.clone(),
            I::CountOnes => format!("spindle_popc{}({})", bits.max(32), zero_extended(s, x)),
            I::CountZeros => format!(
                "({bits}u - spindle_popc{}({}))",
                bits.max(32),
                zero_extended(s, x)
            ),
            I::LeadingZeros if bits >= 32 => format!("spindle_clz{bits}({})", zero_extended(s, x)),
            I::LeadingZeros => format!("(spindle_clz32({}) - {}u)", zero_extended(s, x), 32 - bits),
            I::TrailingZeros if bits >= 32 => format!("spindle_ctz{bits}({})", zero_extended(s, x)),
            // A bit just above the value makes ctz(0) come out as the width.
            I::TrailingZeros => {
                format!("spindle_ctz32({} | {}u)", zero_extended(s, x), 1u32 << bits)
            }
            I::ReverseBits if bits >= 32 => {
                format!("(({c})spindle_brev{bits}({}))", zero_extended(s, x))
            }
            I::ReverseBits => format!(
                "(({c})(spindle_brev32({}) >> {}))",
                zero_extended(s, x),
                32 - bits
            ),
            I::SwapBytes if bits == 8 => x.clone(),
            I::SwapBytes if bits >= 32 => {
                format!("(({c})spindle_bswap{bits}({}))", zero_extended(s, x))
            }
            I::SwapBytes => format!("(({c})(spindle_bswap32({}) >> 16))", zero_extended(s, x)),
            _ => {
                let (name, sig, body) = match i {
                    I::Abs => ("abs", format!("{c} x"), format!("return x < 0 ? ({c})(({w})0 - ({w})x) : x;")),
                    I::Min => ("min", format!("{c} a, {c} b"), "return a < b ? a : b;".to_string()),
                    I::Max => ("max", format!("{c} a, {c} b"), "return a > b ? a : b;".to_string()),
                    I::Clamp => (
                        "clamp",
                        format!("{c} x, {c} lo, {c} hi"),
                        "if (x < lo) return lo;\n  if (x > hi) return hi;\n  return x;".to_string(),
                    ),
                    I::Signum => ("signum", format!("{c} x"), format!("return ({c})((x > 0) - (x < 0));")),
                    I::Pow => (
                        "pow",
                        format!("{c} x, uint32_t e"),
                        format!(
                            "{w} acc = 1u;\n  {w} base = ({w})x;\n  while (e != 0u) {{\n    \
                             if (e & 1u) acc = acc * base;\n    e >>= 1;\n    base = base * base;\n  }}\n  \
                             return ({c})acc;"
                        ),
                    ),
                    I::SaturatingAdd if s.is_signed_int() => (
                        "saturating_add",
                        format!("{c} a, {c} b"),
                        format!(
                            "const {c} r = ({c})(({w})a + ({w})b);\n  if (b > 0 && r < a) return {max};\n  \
                             if (b < 0 && r > a) return {min};\n  return r;",
                            max = int_lit(s, int_max(s)),
                            min = int_lit(s, int_min(s))
                        ),
                    ),
                    I::SaturatingAdd => (
                        "saturating_add",
                        format!("{c} a, {c} b"),
                        format!("const {c} r = ({c})(a + b);\n  return r < a ? {} : r;", int_lit(s, int_max(s))),
                    ),
                    I::SaturatingSub if s.is_signed_int() => (
                        "saturating_sub",
                        format!("{c} a, {c} b"),
                        format!(
                            "const {c} r = ({c})(({w})a - ({w})b);\n  if (b < 0 && r < a) return {max};\n  \
                             if (b > 0 && r > a) return {min};\n  return r;",
                            max = int_lit(s, int_max(s)),
                            min = int_lit(s, int_min(s))
                        ),
                    ),
                    I::SaturatingSub => (
                        "saturating_sub",
                        format!("{c} a, {c} b"),
                        format!("return a > b ? ({c})(a - b) : {};", int_lit(s, 0)),
                    ),
                    I::RotateLeft | I::RotateRight => {
                        let (a, b) = if i == I::RotateLeft { ("<<", ">>") } else { (">>", "<<") };
                        (
                            if i == I::RotateLeft { "rotate_left" } else { "rotate_right" },
                            format!("{c} x, uint32_t n"),
                            format!(
                                "const uint32_t s = n & {m}u;\n  const {w} v = ({w})({u})x;\n  \
                                 return ({c})({u})((v {a} s) | (v {b} (({bits}u - s) & {m}u)));",
                                m = bits - 1
                            ),
                        )
                    }
                    I::IsPowerOfTwo => (
                        "is_power_of_two",
                        format!("{c} x"),
                        format!("return x != 0 && ({c})(x & ({c})(x - 1)) == 0;"),
                    ),
                    I::AbsDiff => (
                        "abs_diff",
                        format!("{c} a, {c} b"),
                        format!("return a > b ? ({u})(({w})a - ({w})b) : ({u})(({w})b - ({w})a);"),
                    ),
                    _ => return self.invalid(&format!("{i:?} on {}", s.rust_name())),
                };
                let ret = match i {
                    I::IsPowerOfTwo => "bool".to_string(),
                    I::AbsDiff => s.to_unsigned().c_name().to_string(),
                    _ => c.to_string(),
                };
                let fname = format!("spindle_{name}_{t}");
                let f = self.helper(&fname, |_| {
                    format!("__device__ __forceinline__ {ret} {fname}({sig}) {{\n  {body}\n}}\n")
                });
                let args = match i {
                    // `pow`/`rotate_*` take a `u32`; other integer types convert.
                    I::Pow | I::RotateLeft | I::RotateRight if second != Scalar::U32 => {
                        format!("{x}, (uint32_t)({})", v[1])
                    }
                    _ => v.join(", "),
                };
                format!("{f}({args})")
            }
        }
    }
}
