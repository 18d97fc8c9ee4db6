//! The macros of sessionkit; use them through the `sessionkit` crate, which
//! documents them.
//!
//! Each macro lives in its own folder, one file per stage: `parse` (a typed
//! syntax tree that keeps every span) → `check` (the rules; the shared ones
//! come from `sessionkit-rules`) → `expand` (code generation only).
//!
//! Set `SESSIONKIT_MACROS_DEBUG=1` while building to print every expansion to
//! standard error.

use proc_macro::TokenStream;

mod config;
mod derive;
mod errors;

/// Implements `sessionkit::SessionData` for a struct with named fields; see
/// the `sessionkit` crate.
#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    emit("derive(Session)", derive::expand(&input))
}

/// Declares checked `sessionkit::SessionConfig` constants; see the
/// `sessionkit` crate.
#[proc_macro]
pub fn session_config(input: TokenStream) -> TokenStream {
    emit("session_config!", config::expand(input.into()))
}

/// Turns an expansion into tokens: an `Err` becomes `compile_error!`s. (An
/// `Ok` may carry errors too, next to the dummy items that keep them from
/// cascading.)
fn emit(macro_name: &str, expansion: syn::Result<proc_macro2::TokenStream>) -> TokenStream {
    let tokens = expansion.unwrap_or_else(syn::Error::into_compile_error);
    if std::env::var_os("SESSIONKIT_MACROS_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("sessionkit-macros: {macro_name} expands to:\n{tokens}\n");
    }
    tokens.into()
}
