//! Code generation for `session_config!`; every check has already run.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use sessionkit_rules::{Field, SameSite, Settings};

use super::check::{Checked, Values};

/// `#[attrs] vis const NAME: SessionConfig = ...;`, with the checked values,
/// or with the defaults when the config has errors so that its uses do not
/// add "cannot find value" errors to the real ones.
pub fn config(checked: &Checked<'_>) -> TokenStream {
    let config = checked.config;
    let attrs = &config.attrs;
    let vis = &config.vis;
    let name = &config.name;
    let value = match &checked.values {
        Some(values) => from_settings(values),
        None => quote!(::sessionkit::__private::SessionConfig::DEFAULT),
    };
    quote! {
        #(#attrs)*
        #vis const #name: ::sessionkit::SessionConfig = #value;
    }
}

/// `SessionConfig::__checked(Settings { written: value, ..Settings::DEFAULT })`:
/// the written options by name, the others from the defaults.
fn from_settings(values: &Values) -> TokenStream {
    let settings = quote!(::sessionkit::__private::Settings);
    let written = values.written.iter().map(|&field| {
        let member = format_ident!("{}", field.member());
        let value = value(&values.settings, field);
        quote!(#member: #value)
    });
    let defaults = (values.written.len() < Field::ALL.len()).then(|| quote!(..#settings::DEFAULT));
    quote! {
        ::sessionkit::__private::SessionConfig::__checked(#settings {
            #(#written,)*
            #defaults
        })
    }
}

/// One option's value, as an expression of its type in
/// `Settings<&'static str>`.
fn value(settings: &Settings<String>, field: Field) -> TokenStream {
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
        max_lifetime_secs,
        hash_ids,
        partitioned,
    } = settings;
    match field {
        Field::CookieName => quote!(#cookie_name),
        Field::Domain => option(domain.as_ref().map(|domain| quote!(#domain))),
        Field::Expiry => quote!(#expiry_secs),
        Field::Httponly => quote!(#httponly),
        Field::Secure => quote!(#secure),
        Field::Samesite => option(samesite.map(same_site)),
        Field::Prefix => quote!(#prefix),
        Field::Sessioncookie => quote!(#sessioncookie),
        Field::SessionName => quote!(#session_name),
        Field::MaxLifetime => option(max_lifetime_secs.map(|secs| quote!(#secs))),
        Field::HashIds => quote!(#hash_ids),
        Field::Partitioned => quote!(#partitioned),
    }
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn same_site(same_site: SameSite) -> TokenStream {
    let variant = match same_site {
        SameSite::Lax => quote!(Lax),
        SameSite::Strict => quote!(Strict),
        SameSite::None => quote!(None),
    };
    quote!(::sessionkit::__private::SameSite::#variant)
}
