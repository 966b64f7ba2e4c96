//! Capturing an item's source text for the runtime linker, keeping every
//! token on its original line and column so positions in the linked IR (and
//! so `#line` directives and error messages) name the user's Rust lines.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// The text of `tokens` laid out as in the user's file, and the file line of
/// the text's first line (1-based). Without span positions (tokens made by
/// another macro), the tokens are printed plainly and the line is that of
/// the first token, or 1.
pub fn layout_preserving(tokens: &TokenStream) -> (String, u32) {
    let first_line = tokens
        .clone()
        .into_iter()
        .next()
        .map(|t| t.span().start().line)
        .unwrap_or(0);
    if first_line == 0 {
        return (tokens.to_string(), 1);
    }
    let mut w = Writer {
        out: String::new(),
        line: first_line,
        col: 0,
        glue_next: false,
    };
    w.stream(tokens);
    (w.out, first_line as u32)
}

struct Writer {
    out: String,
    /// Current position (file line, 0-based column).
    line: usize,
    col: usize,
    /// The previous token was a joint punctuation (`+` of `+=`): no space.
    glue_next: bool,
}

impl Writer {
    fn stream(&mut self, tokens: &TokenStream) {
        for tt in tokens.clone() {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    self.put(g.span_open().start(), open);
                    self.stream(&g.stream());
                    self.put(g.span_close().start(), close);
                }
                TokenTree::Punct(p) => {
                    self.put(p.span().start(), &p.as_char().to_string());
                    self.glue_next = p.spacing() == Spacing::Joint;
                }
                TokenTree::Ident(i) => self.put(i.span().start(), &i.to_string()),
                TokenTree::Literal(l) => self.put(l.span().start(), &l.to_string()),
            }
        }
    }

    fn put(&mut self, at: proc_macro2::LineColumn, text: &str) {
        if text.is_empty() {
            return;
        }
        let glue = std::mem::take(&mut self.glue_next);
        if at.line > self.line {
            for _ in self.line..at.line {
                self.out.push('\n');
            }
            self.line = at.line;
            self.col = 0;
        }
        if at.line == self.line && at.column >= self.col {
            for _ in self.col..at.column {
                self.out.push(' ');
            }
            self.col = at.column;
        } else if !glue && !self.out.is_empty() {
            // Out of order (tokens from another macro): keep them apart.
            self.out.push(' ');
            self.col += 1;
        }
        self.out.push_str(text);
        match text.rfind('\n') {
            Some(nl) => {
                self.line += text.matches('\n').count();
                self.col = text.len() - nl - 1;
            }
            None => self.col += text.len(),
        }
    }
}
