//! The macros of sessionkit: `session_config!` and `#[derive(Session)]`.
//! Use them through the `sessionkit` crate, which re-exports them; their
//! reference (grammar, defaults, every rule with its compile error) is on
//! `sessionkit::session_config` and `sessionkit::Session` (the derive).
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

// The item docs below are only for this crate's own pages (`cfg(doc)` is set
// only when rustdoc documents this crate): `sessionkit` shows its own,
// complete docs on the re-exports, which these would otherwise be appended to.
#[cfg_attr(not(doc), allow(missing_docs))]
#[cfg_attr(
    doc,
    doc = "Implements `sessionkit::SessionData` for a struct with named fields. Use it as `sessionkit::Session`, whose documentation has the `#[session(config = ...)]` attribute, what the type must be, and every error."
)]
#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    emit("derive(Session)", derive::expand(&input))
}

#[cfg_attr(not(doc), allow(missing_docs))]
#[cfg_attr(
    doc,
    doc = "Declares `sessionkit::SessionConfig` constants checked at compile time. Use it as `sessionkit::session_config!`, whose documentation has the grammar, the defaults, and every rule with its error."
)]
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
