//! The one place that names the paths generated code uses, so generated code
//! never depends on what the user imported.

use proc_macro2::TokenStream;
use quote::quote;

/// `::spindle` — the facade crate.
pub fn krate() -> TokenStream {
    quote!(::spindle)
}

/// `::spindle::__private` — items only generated code uses.
pub fn private() -> TokenStream {
    quote!(::spindle::__private)
}
