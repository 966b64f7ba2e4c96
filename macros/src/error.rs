//! Reporting: the errors plus the original item, so the rest of the crate
//! still type-checks and IDEs keep their completions.

use proc_macro2::TokenStream;
use quote::quote;

/// `compile_error!`s for `err`, followed by `item` unchanged.
pub fn with_item(err: syn::Error, item: TokenStream) -> TokenStream {
    let errors = err.into_compile_error();
    quote! {
        #errors
        #[allow(unused)]
        #item
    }
}
