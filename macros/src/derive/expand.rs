//! Code generation for `#[derive(Session)]`; every check has already run.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::Session;

/// `impl SessionData for T { const CONFIG: SessionConfig = PATH; }`.
///
/// The impl carries the span of the struct's name, so a missing `Serialize`,
/// `Deserialize` or `Default` is reported there; the config path keeps its
/// own span, so a path of the wrong type is reported on the path.
pub fn impl_session_data(session: &Session<'_>) -> TokenStream {
    let input = session.input;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let config = match &session.config {
        Some(path) => quote_spanned!(path.span()=> #path),
        None => quote!(::sessionkit::__private::SessionConfig::DEFAULT),
    };
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #impl_generics ::sessionkit::__private::SessionData for #ident #ty_generics #where_clause {
            const CONFIG: ::sessionkit::__private::SessionConfig = #config;
        }
    }
}
