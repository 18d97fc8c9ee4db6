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
    let recovery = recovery(session);
    let frozen = frozen(session);
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #impl_generics ::sessionkit::__private::SessionData for #ident #ty_generics #where_clause {
            const CONFIG: ::sessionkit::__private::SessionConfig = #config;
            #recovery
            #frozen
        }
    }
}

/// `fn __frozen`: whether every field's type is one the runtime knows
/// holds no interior mutability, asked of each type at compile time (the
/// answer is a constant once the method calls resolve). Left out (the
/// trait's `false`) for a generic struct, whose field types are not known
/// here.
fn frozen(session: &Session<'_>) -> TokenStream {
    let input = session.input;
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let syn::Data::Struct(data) = &input.data else {
        return TokenStream::new();
    };
    let probes = data.fields.iter().map(|field| {
        let ty = &field.ty;
        quote! {
            && (&&::sessionkit::__private::frozen::Probe::<#ty>::new()).frozen()
        }
    });
    quote! {
        #[doc(hidden)]
        #[inline(always)]
        fn __frozen() -> bool {
            #[allow(unused_imports)]
            use ::sessionkit::__private::frozen::{IsFrozen as _, NotFrozen as _};
            true #(#probes)*
        }
    }
}

/// `fn __recovery`: the `migrate` function, and the fields' keys unless
/// the type is whole or nothing; nothing at all (the trait's default) when
/// it has neither.
///
/// The function path is coerced to a `fn` pointer with its own span, so a
/// function of the wrong signature is reported on the path.
fn recovery(session: &Session<'_>) -> TokenStream {
    let fields = session.fields.as_ref().filter(|_| !session.strict);
    if fields.is_none() && session.migrate.is_none() {
        return TokenStream::new();
    }
    let migrate = match &session.migrate {
        Some(path) => {
            let function = quote_spanned! {path.span()=>
                let migrate: fn(&mut ::sessionkit::__private::Map<
                    ::std::string::String,
                    ::sessionkit::__private::Value,
                >) = #path;
            };
            quote!(::core::option::Option::Some({ #function migrate }))
        }
        None => quote!(::core::option::Option::None),
    };
    let fields = match fields {
        Some(fields) => {
            let keys = fields.iter().map(|f| {
                let (field, serialize, deserialize) = (&f.field, &f.serialize, &f.deserialize);
                quote! {
                    ::sessionkit::__private::FieldKeys {
                        field: #field,
                        serialize: #serialize,
                        deserialize: &[#(#deserialize),*],
                    }
                }
            });
            quote! {{
                const FIELDS: &[::sessionkit::__private::FieldKeys] = &[#(#keys),*];
                ::core::option::Option::Some(FIELDS)
            }}
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #[doc(hidden)]
        #[inline(never)]
        fn __recovery() -> ::sessionkit::__private::Recovery {
            ::sessionkit::__private::Recovery {
                migrate: #migrate,
                fields: #fields,
            }
        }
    }
}
