//! `#[derive(Session)]`: parse → check → expand.

mod check;
mod expand;
mod parse;
mod serde;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

/// The impl, plus `compile_error!`s for every mistake found. The impl is
/// still emitted when only the attribute is wrong (with the default config
/// if its path could not be read), so uses of the type do not add "trait not
/// implemented" errors; it is left out when the type cannot be a session.
pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let shape = check::shape(input);
    if let Err(error) = &shape {
        errors.push(error.clone());
    }
    let session = parse::Session::from_ast(input, &mut errors);
    check::rest(input, &mut errors);
    let session_impl = match shape {
        Ok(()) => expand::impl_session_data(&session),
        Err(_) => TokenStream::new(),
    };
    let mut tokens = errors.to_compile_errors();
    tokens.extend(session_impl);
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn expand(input: proc_macro2::TokenStream) -> String {
        super::expand(&syn::parse2(input).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn impl_names_the_config_path() {
        let out = expand(quote!(
            #[session(config = a::CART)]
            struct Cart {
                items: Vec<u64>,
            }
        ));
        assert!(
            out.contains("impl :: sessionkit :: __private :: SessionData for Cart"),
            "{out}"
        );
        assert!(out.contains("= a :: CART ;"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn attribute_errors_keep_a_fallback_impl() {
        let out = expand(quote!(
            #[session(cookie = "x")]
            struct Cart {
                items: Vec<u64>,
            }
        ));
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("SessionConfig :: DEFAULT"), "{out}");
    }

    #[test]
    fn the_rebuild_is_left_out_only_when_there_is_nothing_to_do() {
        let out = expand(quote!(
            struct Cart {
                #[serde(alias = "products")]
                items: Vec<u64>,
            }
        ));
        assert!(out.contains("fn __recovery"), "{out}");
        assert!(
            out.contains(r#"deserialize : & ["items" , "products"]"#),
            "{out}"
        );
        assert!(
            out.contains("migrate : :: core :: option :: Option :: None"),
            "{out}"
        );
        for whole in [
            quote!(
                #[session(strict)]
                struct Cart {
                    items: Vec<u64>,
                }
            ),
            quote!(
                struct Cart {
                    #[serde(flatten)]
                    items: Other,
                }
            ),
        ] {
            let out = expand(whole);
            assert!(!out.contains("__recovery"), "{out}");
        }
        let out = expand(quote!(
            #[session(strict, migrate = up::grade)]
            struct Cart {
                items: Vec<u64>,
            }
        ));
        assert!(out.contains("= up :: grade ;"), "{out}");
        assert!(
            out.contains("fields : :: core :: option :: Option :: None"),
            "{out}"
        );
    }

    #[test]
    fn each_field_type_is_probed_unless_the_struct_is_generic() {
        let out = expand(quote!(
            struct Cart {
                items: Vec<u64>,
                user: Option<String>,
            }
        ));
        assert!(out.contains("fn __frozen"), "{out}");
        assert!(out.contains("Probe :: < Vec < u64 > >"), "{out}");
        assert!(out.contains("Probe :: < Option < String > >"), "{out}");
        let out = expand(quote!(
            struct Cart<T> {
                items: Vec<T>,
            }
        ));
        assert!(!out.contains("__frozen"), "{out}");
    }

    #[test]
    fn wrong_shapes_get_no_impl() {
        for input in [
            quote!(
                struct Cart;
            ),
            quote!(
                enum Cart {
                    A,
                }
            ),
            quote!(
                struct Cart<'a> {
                    s: &'a str,
                }
            ),
        ] {
            let out = expand(input);
            assert!(out.contains("compile_error"), "{out}");
            assert!(!out.contains("impl"), "{out}");
        }
    }
}
