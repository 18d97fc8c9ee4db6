//! The keys serde reads and writes each field under, from the type's
//! `#[serde(...)]` attributes: `rename`, `rename_all`, `alias`, `skip`.
//!
//! Only what decides a key is read; any other serde attribute is left to
//! serde, and so are mistakes: an attribute this module cannot read makes
//! the type whole or nothing, and serde's derive reports the mistake.

use proc_macro2::TokenTree;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr, Token};

/// One field's keys.
pub struct FieldKeys {
    /// Its name in Rust (without `r#`).
    pub field: String,
    /// The key it is written under.
    pub serialize: String,
    /// The keys it is read from: its name first, then its aliases.
    pub deserialize: Vec<String>,
}

/// Each field's keys, leaving out the fields serde never reads (`skip`,
/// `skip_deserializing`). `None` when a field's keys are not its own (a
/// `flatten` field, a `transparent` type, a type read or written as another
/// one with `from`, `try_from` or `into`) or an attribute could not be read.
pub fn fields(input: &DeriveInput) -> Option<Vec<FieldKeys>> {
    let Data::Struct(data) = &input.data else {
        return None;
    };
    let Fields::Named(named) = &data.fields else {
        return None;
    };
    let container = container(&input.attrs)?;
    let mut fields = Vec::new();
    for field in &named.named {
        let ident = field.ident.as_ref()?.unraw().to_string();
        let attrs = field_attrs(&field.attrs)?;
        if attrs.skip {
            continue;
        }
        let serialize = match attrs.rename.serialize {
            Some(name) => name,
            None => container.rename_all.serialize.apply(&ident)?,
        };
        let mut deserialize = vec![match attrs.rename.deserialize {
            Some(name) => name,
            None => container.rename_all.deserialize.apply(&ident)?,
        }];
        for alias in attrs.aliases {
            if !deserialize.contains(&alias) {
                deserialize.push(alias);
            }
        }
        fields.push(FieldKeys {
            field: ident,
            serialize,
            deserialize,
        });
    }
    Some(fields)
}

/// A name for each direction.
#[derive(Default)]
struct Pair<T> {
    serialize: Option<T>,
    deserialize: Option<T>,
}

struct Container {
    rename_all: Rules,
}

struct Rules {
    serialize: Rule,
    deserialize: Rule,
}

/// The container's attributes; `None` if its fields' keys are not theirs.
fn container(attrs: &[Attribute]) -> Option<Container> {
    let mut rename_all: Pair<String> = Pair::default();
    let mut own_keys = true;
    for attr in serde_attrs(attrs) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                rename_all = pair(&meta)?;
            } else if ["transparent", "from", "try_from", "into"]
                .iter()
                .any(|key| meta.path.is_ident(key))
            {
                own_keys = false;
                skip_value(&meta)?;
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        })
        .ok()?;
    }
    let rule = |name: Option<String>| match name {
        None => Some(Rule::None),
        Some(name) => Rule::from_name(&name),
    };
    own_keys.then_some(())?;
    Some(Container {
        rename_all: Rules {
            serialize: rule(rename_all.serialize)?,
            deserialize: rule(rename_all.deserialize)?,
        },
    })
}

struct FieldAttrs {
    rename: Pair<String>,
    aliases: Vec<String>,
    skip: bool,
}

/// A field's attributes; `None` for a `flatten` field.
fn field_attrs(attrs: &[Attribute]) -> Option<FieldAttrs> {
    let mut out = FieldAttrs {
        rename: Pair::default(),
        aliases: Vec::new(),
        skip: false,
    };
    let mut flatten = false;
    for attr in serde_attrs(attrs) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let rename = pair(&meta)?;
                out.rename.serialize = rename.serialize.or(out.rename.serialize.take());
                out.rename.deserialize = rename.deserialize.or(out.rename.deserialize.take());
            } else if meta.path.is_ident("alias") {
                out.aliases.push(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                out.skip = true;
            } else if meta.path.is_ident("flatten") {
                flatten = true;
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        })
        .ok()?;
    }
    (!flatten).then_some(out)
}

fn serde_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("serde"))
}

/// `= "name"` (both directions) or `(serialize = "a", deserialize = "b")`.
fn pair(meta: &ParseNestedMeta<'_>) -> syn::Result<Pair<String>> {
    if meta.input.peek(Token![=]) {
        let name = meta.value()?.parse::<LitStr>()?.value();
        return Ok(Pair {
            serialize: Some(name.clone()),
            deserialize: Some(name),
        });
    }
    let mut pair = Pair::default();
    meta.parse_nested_meta(|inner| {
        let name = inner.value()?.parse::<LitStr>()?.value();
        if inner.path.is_ident("serialize") {
            pair.serialize = Some(name);
        } else if inner.path.is_ident("deserialize") {
            pair.deserialize = Some(name);
        } else {
            return Err(inner.error("unknown direction"));
        }
        Ok(())
    })?;
    Ok(pair)
}

/// Passes over the value of a key this module does not read: `= …` up to
/// the next comma, or a `(…)` list.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    let input = meta.input;
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        while !input.is_empty() && !input.peek(Token![,]) {
            input.parse::<TokenTree>()?;
        }
    } else if input.peek(syn::token::Paren) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// serde's `rename_all` rules, applied to a field's name as serde does.
#[derive(Clone, Copy)]
enum Rule {
    None,
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl Rule {
    /// serde's names for them; `None` for a name serde does not know
    /// either (its derive reports it).
    fn from_name(name: &str) -> Option<Rule> {
        Some(match name {
            "lowercase" => Rule::Lower,
            "UPPERCASE" => Rule::Upper,
            "PascalCase" => Rule::Pascal,
            "camelCase" => Rule::Camel,
            "snake_case" => Rule::Snake,
            "SCREAMING_SNAKE_CASE" => Rule::ScreamingSnake,
            "kebab-case" => Rule::Kebab,
            "SCREAMING-KEBAB-CASE" => Rule::ScreamingKebab,
            _ => return None,
        })
    }

    /// The key of the field named `field` (always `Some`; an `Option` so
    /// that callers can chain it with the other lookups).
    fn apply(self, field: &str) -> Option<String> {
        Some(match self {
            Rule::None | Rule::Lower | Rule::Snake => field.to_owned(),
            Rule::Upper | Rule::ScreamingSnake => field.to_ascii_uppercase(),
            Rule::Pascal => pascal(field),
            Rule::Camel => {
                let pascal = pascal(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => pascal,
                }
            }
            Rule::Kebab => field.replace('_', "-"),
            Rule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        })
    }
}

fn pascal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut capitalize = true;
    for ch in field.chars() {
        if ch == '_' {
            capitalize = true;
        } else if capitalize {
            out.push(ch.to_ascii_uppercase());
            capitalize = false;
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn keys(input: proc_macro2::TokenStream) -> Option<Vec<(String, String, Vec<String>)>> {
        fields(&syn::parse2(input).unwrap()).map(|fields| {
            fields
                .into_iter()
                .map(|f| (f.field, f.serialize, f.deserialize))
                .collect()
        })
    }

    fn k(field: &str, ser: &str, de: &[&str]) -> (String, String, Vec<String>) {
        (
            field.into(),
            ser.into(),
            de.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn renames_aliases_and_skips() {
        let got = keys(quote!(
            #[serde(rename_all = "camelCase", default)]
            struct S {
                user_name: String,
                #[serde(rename = "n", alias = "count", alias = "total")]
                visits: u64,
                #[serde(rename(deserialize = "t_in"), skip_serializing_if = "Option::is_none")]
                the_theme: Option<String>,
                #[serde(skip)]
                cache: u8,
                #[serde(skip_deserializing, with = "m")]
                computed: u8,
                r#type: u8,
            }
        ));
        assert_eq!(
            got.unwrap(),
            [
                k("user_name", "userName", &["userName"]),
                k("visits", "n", &["n", "count", "total"]),
                k("the_theme", "theTheme", &["t_in"]),
                k("type", "type", &["type"]),
            ]
        );
    }

    #[test]
    fn every_rename_all_rule() {
        for (rule, want) in [
            ("lowercase", "ab_cd"),
            ("UPPERCASE", "AB_CD"),
            ("PascalCase", "AbCd"),
            ("camelCase", "abCd"),
            ("snake_case", "ab_cd"),
            ("SCREAMING_SNAKE_CASE", "AB_CD"),
            ("kebab-case", "ab-cd"),
            ("SCREAMING-KEBAB-CASE", "AB-CD"),
        ] {
            let got = keys(quote!(
                #[serde(rename_all(deserialize = #rule))]
                struct S {
                    ab_cd: u8,
                }
            ));
            assert_eq!(got.unwrap(), [k("ab_cd", "ab_cd", &[want])], "{rule}");
        }
    }

    #[test]
    fn keys_that_are_not_the_fields_own_give_none() {
        for input in [
            quote!(
                #[serde(transparent)]
                struct S {
                    a: u8,
                }
            ),
            quote!(
                #[serde(try_from = "Other")]
                struct S {
                    a: u8,
                }
            ),
            quote!(
                struct S {
                    #[serde(flatten)]
                    a: Other,
                }
            ),
            quote!(
                #[serde(rename_all = "Title Case")]
                struct S {
                    a: u8,
                }
            ),
        ] {
            assert!(keys(input.clone()).is_none(), "{input}");
        }
    }
}
