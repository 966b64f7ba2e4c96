//! Reading a CUDA program's text: its `extern "C" __global__` entry points
//! (the stand-in generates a host entry for each) and what it uses that
//! decides how its blocks run.

/// Where an entry point's declaration sits in the program text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryAt {
    /// Byte offset of `extern`.
    pub head_start: usize,
    /// Byte offset of the entry's name.
    pub name_start: usize,
}

/// `source` with comments and string literals blanked out (same length,
/// same line breaks), so searches see only code.
fn code_only(source: &str) -> Vec<u8> {
    let b = source.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out[i] = b' ';
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            while i < b.len() && !b[i..].starts_with(b"*/") {
                if b[i] != b'\n' {
                    out[i] = b' ';
                }
                i += 1;
            }
            let end = (i + 2).min(b.len());
            out[i..end].fill(b' ');
            i += 2;
        } else if b[i] == b'"' && !b[..i].ends_with(b"extern ") {
            // A string literal (but keep `extern "C"` visible).
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Every `extern "C" __global__ void name(` in `source`: names and places.
pub fn entries(source: &str) -> Vec<(String, EntryAt)> {
    let code = code_only(source);
    let text = String::from_utf8_lossy(&code).into_owned();
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(off) = text[from..].find("extern") {
        let start = from + off;
        from = start + 6;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let mut i = skip_space(b, start + 6);
        if !text[i..].starts_with("\"C\"") {
            continue;
        }
        i = skip_space(b, i + 3);
        if !text[i..].starts_with("__global__") {
            continue;
        }
        i = skip_space(b, i + "__global__".len());
        // Return type and qualifiers up to the name: identifiers, and
        // `__launch_bounds__(...)`.
        let mut name_at = None;
        while i < b.len() {
            let word_start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            if word_start == i {
                break;
            }
            let word = &text[word_start..i];
            let after = skip_space(b, i);
            if after < b.len() && b[after] == b'(' {
                if word == "__launch_bounds__" {
                    let Some(close) = text[after..].find(')') else {
                        break;
                    };
                    i = skip_space(b, after + close + 1);
                    continue;
                }
                name_at = Some(word_start);
                break;
            }
            i = after;
        }
        if let Some(name_start) = name_at {
            let name_end =
                name_start + b[name_start..].iter().take_while(|c| is_ident(**c)).count();
            out.push((
                text[name_start..name_end].to_string(),
                EntryAt {
                    head_start: start,
                    name_start,
                },
            ));
        }
    }
    out
}

/// `source` with each `extern __shared__ T name[];` (the launch's dynamic
/// shared memory, which host C++ cannot declare) replaced by a pointer of
/// the same name to the block's dynamic shared area
/// (`spindle_emu_dynamic_shared()`, cuda-emu/include/spindle_emu_device.h):
/// a local `T* const` inside a function, a macro at file scope.
pub fn host_source(source: &str) -> String {
    let code = code_only(source);
    let text = String::from_utf8_lossy(&code).into_owned();
    let b = text.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(off) = text[from..].find("extern") {
        let start = from + off;
        from = start + 6;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let i = skip_space(b, start + 6);
        if !text[i..].starts_with("__shared__") {
            continue;
        }
        let Some(semi) = text[i..].find(';').map(|s| i + s) else {
            break;
        };
        let decl = text[i + "__shared__".len()..semi].trim();
        let Some(decl) = decl
            .strip_suffix(']')
            .and_then(|d| d.trim_end().strip_suffix('['))
        else {
            continue;
        };
        // Drop `__align__(n)`, then the last word is the name.
        let mut words = decl.to_string();
        while let Some(a) = words.find("__align__") {
            let close = words[a..].find(')').map_or(words.len(), |c| a + c + 1);
            words.replace_range(a..close, " ");
        }
        let words = words.trim();
        let Some(split) = words.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) else {
            continue;
        };
        let (ty, name) = (words[..=split].trim(), &words[split + 1..]);
        let depth = b[..start].iter().fold(0i64, |d, c| match c {
            b'{' => d + 1,
            b'}' => d - 1,
            _ => d,
        });
        let replacement = if depth > 0 {
            format!("{ty}* const {name} = reinterpret_cast<{ty}*>(spindle_emu_dynamic_shared());")
        } else {
            format!("\n#define {name} (reinterpret_cast<{ty}*>(spindle_emu_dynamic_shared()))\n")
        };
        out.push_str(&source[copied..start]);
        out.push_str(&replacement);
        copied = semi + 1;
        from = semi + 1;
    }
    out.push_str(&source[copied..]);
    out
}

/// Where entry `name` is declared.
pub fn find_entry(source: &str, name: &str) -> Option<EntryAt> {
    entries(source)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, at)| at)
}

/// Uses (in code, not comments) of anything through which the threads of a
/// block can wait for each other or share memory: barriers, warp
/// operations, `__shared__` variables, the dynamic shared area, polling.
/// A program without any runs its threads one after another.
pub fn needs_concurrent_threads(source: &str) -> bool {
    const MARKERS: [&str; 16] = [
        "__shared__",
        "spindle_dyn_smem",
        "spindle_sync_threads",
        "spindle_active_mask",
        "spindle_sync_warp",
        "spindle_shfl",
        "spindle_vote",
        "__syncthreads",
        "__syncwarp",
        "__shfl",
        "__ballot",
        "__all_sync",
        "__any_sync",
        "__activemask",
        "nanosleep",
        "spindle_load_acquire_sys",
    ];
    let code = code_only(source);
    let text = String::from_utf8_lossy(&code);
    MARKERS.iter().any(|m| text.contains(m))
}

/// The program polls memory with a sleep between polls (a persistent
/// kernel such as a ring actor's loop): a wait for it may never end.
pub fn polls(source: &str) -> bool {
    let code = code_only(source);
    String::from_utf8_lossy(&code).contains("nanosleep")
}

/// The program is a spindle ring kernel (built against the ring shim).
pub fn is_ring(source: &str) -> bool {
    source.contains("// Generated by spindle from the ring kernel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entries_and_skips_comments() {
        let src = "// extern \"C\" __global__ void commented(int x)\n\
                   /* extern \"C\" __global__ void also(int x) */\n\
                   extern \"C\" __global__ void spindle_a(float* x, unsigned long long n) {}\n\
                   __device__ void helper(int) {}\n\
                   extern \"C\"\n__global__\nvoid __launch_bounds__(256)\n  spindle_b (int k) {}\n";
        let names: Vec<String> = entries(src).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec!["spindle_a".to_string(), "spindle_b".to_string()]
        );
        assert!(find_entry(src, "spindle_b").is_some());
        assert!(find_entry(src, "commented").is_none());
    }

    #[test]
    fn dynamic_shared_arrays_become_pointers_to_the_area() {
        let src = "extern \"C\" __global__ void k(float* x) {\n  extern __shared__ __align__(16) unsigned char smem[];\n  smem[0] = 1;\n}\n\
                   extern __shared__ float tile[];\n";
        let host = host_source(src);
        assert!(
            host.contains("unsigned char* const smem = reinterpret_cast<unsigned char*>(spindle_emu_dynamic_shared());"),
            "{host}"
        );
        assert!(
            host.contains(
                "\n#define tile (reinterpret_cast<float*>(spindle_emu_dynamic_shared()))\n"
            ),
            "{host}"
        );
        assert!(host.contains("smem[0] = 1;"));
        let plain = "extern \"C\" __global__ void k(float* x) { x[0] = 1; }";
        assert_eq!(host_source(plain), plain);
    }

    #[test]
    fn block_synchronisation_is_seen_in_code_only() {
        assert!(!needs_concurrent_threads(
            "// __syncthreads() in a comment\nextern \"C\" __global__ void k(int* x) { x[0] = 1; }"
        ));
        assert!(needs_concurrent_threads(
            "extern \"C\" __global__ void k(int* x) { __shared__ int t[4]; t[0] = x[0]; }"
        ));
        assert!(polls("void f() { spindle_nanosleep(5); }"));
        assert!(!polls("/* nanosleep */ void f() {}"));
    }
}
