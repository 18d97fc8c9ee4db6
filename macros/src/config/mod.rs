//! `session_config!`: parse → check → expand.

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;

/// Errors come back as `compile_error!`s next to the configs, each config
/// with errors emitted as a dummy; parsing itself recovers from errors, so
/// this only fails if syn's own end-of-input check does.
pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: parse::Input = syn::parse2(input)?;
    let (configs, errors) = check::check(&input);
    let mut tokens = errors.to_compile_errors();
    tokens.extend(configs.iter().map(expand::config));
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn expand(input: proc_macro2::TokenStream) -> String {
        super::expand(input).unwrap().to_string()
    }

    #[test]
    fn valid_config_names_the_written_options_and_takes_the_rest_from_the_defaults() {
        let out = expand(quote!(pub CART { expiry: 2 hours, cookie_name: "cart" }));
        assert!(!out.contains("compile_error"), "{out}");
        let settings = ":: sessionkit :: __private :: Settings";
        assert!(
            out.contains(&format!(
                ":: sessionkit :: __private :: SessionConfig :: __checked ({settings} {{ \
                 cookie_name : \"cart\" , expiry_secs : 7200u64 , .. {settings} :: DEFAULT }})"
            )),
            "{out}"
        );
    }

    #[test]
    fn every_option_written_leaves_no_defaults_to_take() {
        let out = expand(quote!(ADMIN {
            cookie_name: "admin",
            domain: "example.com",
            expiry: 60,
            httponly: false,
            secure: true,
            samesite: "none",
            prefix: "admin:",
            sessioncookie: true,
            session_name: "admin",
            max_lifetime: 2 minutes,
            hash_ids: true,
            partitioned: true,
        }));
        assert!(!out.contains("compile_error"), "{out}");
        for field in [
            "cookie_name : \"admin\"",
            "domain : :: core :: option :: Option :: Some (\"example.com\")",
            "expiry_secs : 60u64",
            "httponly : false",
            "secure : true",
            "samesite : :: core :: option :: Option :: Some (:: sessionkit :: __private :: SameSite :: None)",
            "prefix : \"admin:\"",
            "sessioncookie : true",
            "session_name : \"admin\"",
            "max_lifetime_secs : :: core :: option :: Option :: Some (120u64)",
            "hash_ids : true",
            "partitioned : true",
        ] {
            assert!(out.contains(field), "{field} in {out}");
        }
        assert!(!out.contains("DEFAULT"), "{out}");
    }

    #[test]
    fn invalid_config_is_a_default_dummy_next_to_its_errors() {
        let out = expand(quote!(CART {
            samesite: "sideways",
            cookiename: "x"
        }));
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("const CART"), "{out}");
        assert!(out.contains("SessionConfig :: DEFAULT"), "{out}");
    }

    #[test]
    fn duplicate_name_is_emitted_once() {
        let out = expand(quote!(CART {} CART {}));
        assert_eq!(out.matches("const CART").count(), 1, "{out}");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    }

    #[test]
    fn a_syntax_error_keeps_the_configs_before_it() {
        let out = expand(quote!(CART { secure: true } ADMIN cookie_name));
        assert!(out.contains("const CART"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    }
}
