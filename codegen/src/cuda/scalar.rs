//! Scalar facts the emitter needs in C form: helper-name tags, the unsigned
//! and widened types used for wrapping arithmetic, and literals.

use crate::ir::Scalar;

/// The name part of a helper: `i32`, `u64` (`usize`/`isize` share the 64-bit
/// helpers, since they are the same C type).
pub(crate) fn tag(s: Scalar) -> &'static str {
    match s {
        Scalar::Usize => "u64",
        Scalar::Isize => "i64",
        other => other.rust_name(),
    }
}

/// The unsigned C type of the same width (integers).
pub(crate) fn unsigned_c(s: Scalar) -> &'static str {
    match s.bits() {
        8 => "uint8_t",
        16 => "uint16_t",
        32 => "uint32_t",
        _ => "uint64_t",
    }
}

/// The unsigned C type arithmetic is done in: `uint32_t` up to 32 bits (so
/// 8/16-bit values never promote to a signed `int` that could overflow),
/// else `uint64_t`.
pub(crate) fn wide_c(s: Scalar) -> &'static str {
    if s.bits() <= 32 {
        "uint32_t"
    } else {
        "uint64_t"
    }
}

/// Does C arithmetic on this type already wrap (unsigned and not promoted)?
pub(crate) fn wraps_natively(s: Scalar) -> bool {
    s.is_int() && !s.is_signed_int() && s.bits() >= 32
}

/// The smallest value of an integer type, as `i128`.
pub(crate) fn int_min(s: Scalar) -> i128 {
    if s.is_signed_int() {
        -(1i128 << (s.bits() - 1))
    } else {
        0
    }
}

/// The largest value of an integer type, as `i128`.
pub(crate) fn int_max(s: Scalar) -> i128 {
    if s.is_signed_int() {
        (1i128 << (s.bits() - 1)) - 1
    } else {
        (1i128 << s.bits()) - 1
    }
}

/// An integer literal of exactly C type `s.c_name()` (or one that converts
/// to it without change): `5`, `5u`, `5ll`, `5ull`, `((int8_t)-5)`,
/// `(-2147483647 - 1)`.
pub(crate) fn int_lit(s: Scalar, v: i128) -> String {
    match s {
        Scalar::Bool => (if v != 0 { "true" } else { "false" }).to_string(),
        Scalar::I8 | Scalar::I16 | Scalar::U8 | Scalar::U16 => format!("(({}){v})", s.c_name()),
        Scalar::I32 | Scalar::I64 | Scalar::Isize => {
            let sfx = if s.bits() == 64 { "ll" } else { "" };
            if v == int_min(s) {
                // `-2147483648` would be the negation of a wider literal.
                format!("(-{}{sfx} - 1)", -(v + 1))
            } else if v < 0 {
                format!("({v}{sfx})")
            } else {
                format!("{v}{sfx}")
            }
        }
        Scalar::U32 => format!("{v}u"),
        Scalar::U64 | Scalar::Usize => format!("{v}ull"),
        Scalar::F32 | Scalar::F64 => float_lit(s, v as f64),
    }
}

/// A float literal that denotes exactly `v` (rounded to `f32` for `F32`).
/// Decimal when that is exact even for a compiler that parses `f` literals
/// through `double`; otherwise a hexadecimal float. Non-finite values go
/// through the bit-pattern helpers.
pub(crate) fn float_lit(s: Scalar, v: f64) -> String {
    if s == Scalar::F32 {
        let x = v as f32;
        if !x.is_finite() {
            return format!("spindle_f32_from_bits({:#010x}u)", x.to_bits());
        }
        let dec = decimal(x as f64).unwrap_or_else(|| format!("{x:?}"));
        let text = if dec.parse::<f64>().map(|d| d as f32) == Ok(x) {
            dec
        } else {
            hex_float(x as f64, 23, 126)
        };
        wrap_neg(format!("{text}f"))
    } else {
        if !v.is_finite() {
            return format!("spindle_f64_from_bits({:#018x}ull)", v.to_bits());
        }
        wrap_neg(decimal(v).unwrap_or_else(|| format!("{v:?}")))
    }
}

/// Whole numbers below 2^67 in full (`2147483648.0`, not `2147483600.0`):
/// exact, and easier to read in bounds.
fn decimal(v: f64) -> Option<String> {
    (v.fract() == 0.0 && v.abs() < 1.5e20).then(|| format!("{v:.1}"))
}

fn wrap_neg(text: String) -> String {
    if text.starts_with('-') {
        format!("({text})")
    } else {
        text
    }
}

/// `v` (finite, representable with `mant_bits` fraction bits and minimum
/// normal exponent `-min_exp`) as a C hexadecimal float: `0x1.99999ap-4`.
fn hex_float(v: f64, mant_bits: u32, min_exp: i32) -> String {
    let bits = v.to_bits();
    let sign = if bits >> 63 != 0 { "-" } else { "" };
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 && frac == 0 {
        return format!("{sign}0.0");
    }
    // An f32 is always a normal f64; print its fraction with the f32's
    // precision (rounded up to whole hex digits).
    let e = exp - 1023;
    let digits = mant_bits.div_ceil(4) as usize;
    let (lead, e, frac) = if e < -min_exp {
        // Subnormal in the narrow type: 0x0.xxx p-min_exp.
        let shift = -min_exp - e;
        let full = (1u64 << 52) | frac;
        (0, -min_exp, full >> shift)
    } else {
        (1, e, frac)
    };
    let frac_hex = format!("{:013x}", frac);
    let frac_hex = frac_hex[..digits.min(13)].trim_end_matches('0');
    let dot = if frac_hex.is_empty() { "0" } else { frac_hex };
    format!("{sign}0x{lead}.{dot}p{e:+}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_int_literals_have_their_c_type() {
        assert_eq!(int_lit(Scalar::I32, i32::MIN as i128), "(-2147483647 - 1)");
        assert_eq!(
            int_lit(Scalar::I64, i64::MIN as i128),
            "(-9223372036854775807ll - 1)"
        );
        assert_eq!(int_lit(Scalar::I32, -5), "(-5)");
        assert_eq!(
            int_lit(Scalar::U64, u64::MAX as i128),
            "18446744073709551615ull"
        );
        assert_eq!(int_lit(Scalar::U8, 255), "((uint8_t)255)");
        assert_eq!(int_lit(Scalar::U32, 7), "7u");
    }

    #[test]
    fn cuda_float_literals_are_exact() {
        assert_eq!(float_lit(Scalar::F32, 1.0), "1.0f");
        assert_eq!(float_lit(Scalar::F32, 0.5), "0.5f");
        assert_eq!(float_lit(Scalar::F64, 0.1), "0.1");
        assert_eq!(float_lit(Scalar::F32, -2.5), "(-2.5f)");
        assert_eq!(
            float_lit(Scalar::F32, f64::INFINITY),
            "spindle_f32_from_bits(0x7f800000u)"
        );
        assert_eq!(
            float_lit(Scalar::F64, f64::NAN),
            "spindle_f64_from_bits(0x7ff8000000000000ull)"
        );
        // Every f32 literal either parses back exactly or is hexadecimal.
        for x in [0.1f32, 1e-45, 3.4028235e38, 1.1754942e-38, 16777217.0, 0.3] {
            let lit = float_lit(Scalar::F32, x as f64);
            let body = lit.trim_start_matches('(').trim_end_matches(')');
            let body = body.strip_suffix('f').unwrap();
            if let Some(hex) = body.strip_prefix("0x") {
                let (m, e) = hex.split_once('p').unwrap();
                let (lead, frac) = m.split_once('.').unwrap();
                let mut val = lead.parse::<f64>().unwrap();
                for (i, d) in frac.chars().enumerate() {
                    val += d.to_digit(16).unwrap() as f64 / 16f64.powi(i as i32 + 1);
                }
                let val = val * 2f64.powi(e.parse::<i32>().unwrap());
                assert_eq!(val as f32, x, "{lit}");
            } else {
                assert_eq!(body.parse::<f32>().unwrap(), x, "{lit}");
            }
        }
    }
}
