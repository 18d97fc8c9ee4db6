//! The `#[session(...)]` attribute of `#[derive(Session)]`.
//!
//! ```text
//! #[session(config = CART, strict, migrate = upgrade)]
//! ```

use syn::meta::ParseNestedMeta;
use syn::{DeriveInput, LitStr, Meta, Path, Token};

use super::serde::{self, FieldKeys};
use crate::errors::{list, Errors};

/// The keys `#[session(...)]` accepts.
pub const KEYS: [&str; 3] = ["config", "strict", "migrate"];

/// The derive input with its `#[session(...)]` settings.
pub struct Session<'a> {
    pub input: &'a DeriveInput,
    /// `config = PATH`; `None` means the default config.
    pub config: Option<Path>,
    /// `strict`: no rebuild field by field.
    pub strict: bool,
    /// `migrate = PATH`, a `fn(&mut Map<String, Value>)`.
    pub migrate: Option<Path>,
    /// The keys of each field as serde reads and writes them; `None` when
    /// they are not the fields' own (see [`serde::fields`]).
    pub fields: Option<Vec<FieldKeys>>,
}

impl<'a> Session<'a> {
    /// Reads every `#[session(...)]` on the type; errors go to `errors` and
    /// the rest of the attribute is skipped.
    pub fn from_ast(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let mut config: Option<Path> = None;
        let mut strict = false;
        let mut migrate: Option<Path> = None;
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("session")) {
            if !matches!(attr.meta, Meta::List(_)) {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "expected `#[session(config = PATH)]`, with the path of a `session_config!` constant",
                ));
                continue;
            }
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("config") {
                    let path = config_path(&meta)?;
                    if config.is_some() {
                        errors.push(syn::Error::new_spanned(
                            &meta.path,
                            "`config` specified more than once",
                        ));
                    } else {
                        config = Some(path);
                    }
                    Ok(())
                } else if meta.path.is_ident("strict") {
                    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                        return Err(meta.error("`strict` takes no value: `#[session(strict)]`"));
                    }
                    if strict {
                        errors.push(syn::Error::new_spanned(
                            &meta.path,
                            "`strict` specified more than once",
                        ));
                    }
                    strict = true;
                    Ok(())
                } else if meta.path.is_ident("migrate") {
                    let path = migrate_path(&meta)?;
                    if migrate.is_some() {
                        errors.push(syn::Error::new_spanned(
                            &meta.path,
                            "`migrate` specified more than once",
                        ));
                    } else {
                        migrate = Some(path);
                    }
                    Ok(())
                } else {
                    let key: Vec<String> = meta
                        .path
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect();
                    let key = key.join("::");
                    Err(meta.error(format!(
                        "unknown key `{key}` in `#[session(...)]`, expected {}",
                        list(KEYS)
                    )))
                }
            });
            if let Err(error) = result {
                errors.push(error);
            }
        }
        Session {
            input,
            config,
            strict,
            migrate,
            fields: serde::fields(input),
        }
    }
}

/// `= PATH` after `config`.
fn config_path(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    path_value(
        meta,
        "expected the path of a `session_config!` constant, like `config = CART`",
    )
}

/// `= PATH` after `migrate`.
fn migrate_path(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    path_value(
        meta,
        "expected the path of a function that takes `&mut serde_json::Map<String, serde_json::Value>`, like `migrate = upgrade`",
    )
}

/// `= PATH` after a key, or `expected` at the key (no `=`), at a quoted
/// path (with ", without quotes"), or at anything else.
fn path_value(meta: &ParseNestedMeta<'_>, expected: &str) -> syn::Result<Path> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(expected));
    }
    let input = meta.value()?;
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new_spanned(
            &lit,
            format!("{expected}, without quotes"),
        ));
    }
    input
        .parse::<Path>()
        .map_err(|error| syn::Error::new(error.span(), expected))
}
