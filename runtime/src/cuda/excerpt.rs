//! Locating NVRTC's first error in the generated source, for
//! [`Error::Compile`](crate::Error::Compile)'s `excerpt`.
//!
//! NVRTC reports `<file>(<line>): error: …`. Before any `#line` directive
//! `<file>` is the program name (`<kernel>.cu`) and the line is the
//! generated line; under `#line N "src/x.rs"` it is the Rust file and line.
//! Both cases are resolved the same way: every generated line is mapped to
//! the (file, line) NVRTC would call it, and the first generated line that
//! maps to the reported location is shown with its neighbours.

use std::path::{Path, PathBuf};

/// Lines shown before and after the error line.
const CONTEXT: usize = 3;

/// The numbered generated source around the first error `log` names, with
/// the Rust line when the error names a readable `.rs` file; empty when the
/// log names no location in `source`.
pub(crate) fn error_excerpt(source: &str, program_name: &str, log: &str) -> String {
    let Some((file, line)) = first_error_location(log) else {
        return String::new();
    };
    let lines: Vec<&str> = source.lines().collect();
    let map = line_map(&lines, program_name);
    let Some(idx) = map
        .iter()
        .position(|loc| matches!(loc, Some((f, l)) if *l == line && same_file(f, &file)))
    else {
        return format!(
            "(the error is at {file}:{line}, which the generated source does not contain)"
        );
    };
    let mut out = String::new();
    if same_file(&file, program_name) {
        out.push_str(&format!(
            "error at line {} of the generated {program_name}:\n",
            idx + 1
        ));
    } else {
        out.push_str(&format!(
            "error at {file}:{line} (line {} of the generated {program_name})\n",
            idx + 1
        ));
        if let Some(text) = read_line(&file, line) {
            out.push_str(&format!("  {file}:{line} | {}\n", text.trim_end()));
        }
    }
    let first = idx.saturating_sub(CONTEXT);
    let last = (idx + CONTEXT).min(lines.len() - 1);
    for (i, text) in lines.iter().enumerate().take(last + 1).skip(first) {
        let marker = if i == idx { '>' } else { ' ' };
        out.push_str(&format!("{marker} {:>5} | {}\n", i + 1, text));
    }
    out
}

/// The (file, line) of the first `error` in an NVRTC log.
fn first_error_location(log: &str) -> Option<(String, u32)> {
    log.lines().find_map(|l| {
        let at = l
            .find("): error")
            .or_else(|| l.find("): catastrophic error"))?;
        let open = l[..at].rfind('(')?;
        let line = l[open + 1..at].trim().parse::<u32>().ok()?;
        let file = l[..open].trim().trim_matches('"').to_string();
        Some((file, line))
    })
}

/// For each generated line, the (file, line) NVRTC attributes it to;
/// `None` for `#line` directives themselves.
fn line_map(lines: &[&str], program_name: &str) -> Vec<Option<(String, u32)>> {
    let mut file = program_name.to_string();
    let mut next = 1u32;
    lines
        .iter()
        .map(|text| {
            if let Some((n, f)) = parse_line_directive(text) {
                next = n;
                if let Some(f) = f {
                    file = f;
                }
                None
            } else {
                let here = (file.clone(), next);
                next = next.saturating_add(1);
                Some(here)
            }
        })
        .collect()
}

/// `#line N` or `#line N "file"` (also the GNU `# N "file"` form).
fn parse_line_directive(text: &str) -> Option<(u32, Option<String>)> {
    let rest = text.trim_start().strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("line").unwrap_or(rest).trim_start();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n = rest[..digits_end].parse::<u32>().ok()?;
    let tail = rest[digits_end..].trim();
    let file = tail
        .strip_prefix('"')
        .and_then(|t| t.rfind('"').map(|end| t[..end].replace("\\\\", "\\")));
    Some((n, file))
}

/// Whether two spellings name the same file (one may be a path suffix of
/// the other).
fn same_file(a: &str, b: &str) -> bool {
    let a = a.trim_start_matches("./");
    let b = b.trim_start_matches("./");
    a == b || a.ends_with(&format!("/{b}")) || b.ends_with(&format!("/{a}"))
}

/// Line `line` (1-based) of a Rust source file, looked up relative to the
/// current folder and to `$CARGO_MANIFEST_DIR` and its ancestors.
fn read_line(file: &str, line: u32) -> Option<String> {
    let path = Path::new(file);
    let mut candidates: Vec<PathBuf> = vec![path.to_path_buf()];
    if path.is_relative() {
        if let Some(m) = std::env::var_os("CARGO_MANIFEST_DIR") {
            candidates.extend(Path::new(&m).ancestors().map(|a| a.join(path)));
        }
    }
    let text = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())?;
    text.lines()
        .nth(line.checked_sub(1)? as usize)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_error() {
        let log =
            "k.cu(2): warning: unused\nk.cu(7): error: expected a \";\"\nk.cu(9): error: other\n";
        assert_eq!(first_error_location(log), Some(("k.cu".into(), 7)));
        let log = "\"src/a.rs\"(12): error: identifier \"q\" is undefined";
        assert_eq!(first_error_location(log), Some(("src/a.rs".into(), 12)));
        assert_eq!(
            first_error_location("nvrtc: error: invalid value for --gpu-architecture"),
            None
        );
    }

    #[test]
    fn maps_lines_through_directives() {
        let src = ["a", "#line 40 \"src/x.rs\"", "b", "c", "#line 7", "d"];
        let map = line_map(&src, "k.cu");
        assert_eq!(map[0], Some(("k.cu".into(), 1)));
        assert_eq!(map[1], None);
        assert_eq!(map[2], Some(("src/x.rs".into(), 40)));
        assert_eq!(map[3], Some(("src/x.rs".into(), 41)));
        assert_eq!(map[5], Some(("src/x.rs".into(), 7)));
    }

    #[test]
    fn excerpt_marks_the_generated_line() {
        let src = "l1\nl2\nl3\nl4 bad\nl5\nl6\nl7\nl8\nl9\n";
        let e = error_excerpt(src, "k.cu", "k.cu(4): error: oops");
        assert!(e.contains(">     4 | l4 bad"), "{e}");
        assert!(e.contains("      1 | l1"), "{e}");
        assert!(e.contains("      7 | l7"), "{e}");
        assert!(!e.contains("l8"), "{e}");
    }

    #[test]
    fn excerpt_under_a_directive_names_the_rust_line() {
        let src = "void f() {\n#line 3 \"/nonexistent/lib.rs\"\n  int x = y;\n}\n";
        let e = error_excerpt(
            src,
            "k.cu",
            "/nonexistent/lib.rs(3): error: identifier \"y\" is undefined",
        );
        assert!(
            e.contains("error at /nonexistent/lib.rs:3 (line 3 of the generated k.cu)"),
            "{e}"
        );
        assert!(e.contains(">     3 |   int x = y;"), "{e}");
    }

    #[test]
    fn excerpt_shows_a_readable_rust_line() {
        let dir = std::env::temp_dir().join(format!("spindle-excerpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rs = dir.join("kern.rs");
        std::fs::write(&rs, "fn a() {}\nlet q = z + 1;\n").unwrap();
        let rs = rs.display().to_string();
        let src = format!("x\n#line 2 \"{rs}\"\nint q = z + 1;\n");
        let e = error_excerpt(&src, "k.cu", &format!("{rs}(2): error: undefined"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.contains(&format!("{rs}:2 | let q = z + 1;")), "{e}");
    }

    #[test]
    fn no_location_gives_no_excerpt() {
        assert_eq!(error_excerpt("a\nb\n", "k.cu", "some failure"), "");
    }
}
