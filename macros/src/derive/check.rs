//! The rules of `#[derive(Session)]`: one function per rule.

use syn::{Attribute, Data, DeriveInput, Fields, GenericParam};

use crate::errors::Errors;

const SHAPE: &str =
    "a session must be a struct with named fields, stored as a JSON object of its fields";

/// Whether an `impl SessionData` can be generated at all; the reason if not.
pub fn shape(input: &DeriveInput) -> syn::Result<()> {
    check_named_struct(input)?;
    check_no_lifetimes(input)
}

/// Every other rule; these do not prevent generating the impl.
pub fn rest(input: &DeriveInput, errors: &mut Errors) {
    check_attribute_placement(input, errors);
}

/// A session is a struct with named fields (it is stored as a JSON object).
fn check_named_struct(input: &DeriveInput) -> syn::Result<()> {
    let name = &input.ident;
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(_) => Ok(()),
            Fields::Unnamed(fields) => Err(syn::Error::new_spanned(
                fields,
                format!("{SHAPE}, not a tuple struct; name the fields: `struct {name} {{ items: Vec<u64> }}`"),
            )),
            Fields::Unit => Err(syn::Error::new_spanned(
                name,
                format!("{SHAPE}, not a unit struct; give it named fields: `struct {name} {{ items: Vec<u64> }}`"),
            )),
        },
        Data::Enum(data) => Err(syn::Error::new_spanned(
            data.enum_token,
            format!("{SHAPE}, not an enum; put the enum in a field: `struct {name}Session {{ value: {name} }}`"),
        )),
        Data::Union(data) => Err(syn::Error::new_spanned(
            data.union_token,
            format!("{SHAPE}, not a union"),
        )),
    }
}

/// A session owns its data: it is `'static` and deserialized into owned values.
fn check_no_lifetimes(input: &DeriveInput) -> syn::Result<()> {
    match input.generics.params.iter().find_map(|param| match param {
        GenericParam::Lifetime(lifetime) => Some(lifetime),
        _ => None,
    }) {
        Some(param) => Err(syn::Error::new_spanned(
            &param.lifetime,
            format!(
                "a session cannot borrow: remove the lifetime parameter `{}` and own the data (`String`, not `&str`)",
                param.lifetime
            ),
        )),
        None => Ok(()),
    }
}

/// `#[session(...)]` goes on the struct, not on a field or variant.
fn check_attribute_placement(input: &DeriveInput, errors: &mut Errors) {
    let mut misplaced = |attrs: &[Attribute]| {
        for attr in attrs.iter().filter(|a| a.path().is_ident("session")) {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[session(...)]` goes on the struct, not on a field or variant",
            ));
        }
    };
    match &input.data {
        Data::Struct(data) => data.fields.iter().for_each(|f| misplaced(&f.attrs)),
        Data::Enum(data) => data.variants.iter().for_each(|v| {
            misplaced(&v.attrs);
            v.fields.iter().for_each(|f| misplaced(&f.attrs));
        }),
        Data::Union(data) => data.fields.named.iter().for_each(|f| misplaced(&f.attrs)),
    }
}
