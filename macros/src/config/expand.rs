//! Code generation for `session_config!`; every check has already run.

use proc_macro2::TokenStream;
use quote::quote;
use sessionkit_rules::{SameSite, Settings};

use super::check::Checked;

/// `#[attrs] vis const NAME: SessionConfig = ...;`, with the checked values,
/// or with the defaults when the config has errors so that its uses do not
/// add "cannot find value" errors to the real ones.
pub fn config(checked: &Checked<'_>) -> TokenStream {
    let config = checked.config;
    let attrs = &config.attrs;
    let vis = &config.vis;
    let name = &config.name;
    let value = match &checked.values {
        Some(values) => from_macro(values),
        None => quote!(::sessionkit::__private::SessionConfig::DEFAULT),
    };
    quote! {
        #(#attrs)*
        #vis const #name: ::sessionkit::SessionConfig = #value;
    }
}

fn from_macro(settings: &Settings<String>) -> TokenStream {
    let Settings {
        cookie_name,
        domain,
        expiry_secs,
        httponly,
        secure,
        samesite,
        prefix,
        sessioncookie,
        session_name,
    } = settings;
    let domain = match domain {
        Some(domain) => quote!(::core::option::Option::Some(#domain)),
        None => quote!(::core::option::Option::None),
    };
    let samesite = match samesite {
        Some(samesite) => {
            let variant = match samesite {
                SameSite::Lax => quote!(Lax),
                SameSite::Strict => quote!(Strict),
                SameSite::None => quote!(None),
            };
            quote!(::core::option::Option::Some(::sessionkit::__private::SameSite::#variant))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::sessionkit::__private::SessionConfig::__from_macro(
            #cookie_name,
            #domain,
            #expiry_secs,
            #httponly,
            #secure,
            #samesite,
            #prefix,
            #sessioncookie,
            #session_name,
        )
    }
}
