//! The syntax of `session_config!`, as a tree that keeps every span.
//!
//! ```text
//! session_config! {
//!     /// docs and other outer attributes
//!     pub CART { cookie_name: "cart", expiry: 7 days, secure: true }
//!     ADMIN { ... }
//! }
//! ```
//!
//! Keys and value types are not checked here (see `check.rs`): any
//! identifier is a key and any tokens up to the next `,` are a value, so one
//! call can report every wrong key and value at once. A syntax error inside
//! one config's braces is recorded and parsing resumes after the next `,`.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{discouraged::Speculative, Parse, ParseStream};
use syn::{braced, Attribute, Ident, LitBool, LitInt, LitStr, Token, Visibility};

/// Everything inside `session_config! { ... }`.
pub struct Input {
    pub configs: Vec<Config>,
    /// A syntax error outside any config's braces; parsing stops there, but
    /// the configs before it are still checked and emitted.
    pub syntax_error: Option<syn::Error>,
}

/// One `[attributes] [vis] NAME { key: value, ... }`.
pub struct Config {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub entries: Vec<Entry>,
    /// Syntax errors inside the braces, recovered from.
    pub syntax_errors: Vec<syn::Error>,
}

/// One `key: value`.
pub struct Entry {
    pub key: Ident,
    pub value: Value,
}

/// A value, classified by its form; which form a key needs is `check.rs`'s business.
pub enum Value {
    /// `"lax"`
    Str(LitStr),
    /// `true`
    Bool(LitBool),
    /// `604800`
    Int(LitInt),
    /// `7 days`
    Duration { amount: LitInt, unit: Ident },
    /// Anything else up to the next `,`: another literal, a path, an expression.
    Other(TokenStream),
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut configs = Vec::new();
        let mut syntax_error = None;
        while !input.is_empty() {
            match input.parse() {
                Ok(config) => configs.push(config),
                Err(error) => {
                    syntax_error = Some(error);
                    skip_rest(input);
                }
            }
        }
        Ok(Input {
            configs,
            syntax_error,
        })
    }
}

impl Parse for Config {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Ident) {
            return Err(
                input.error("expected the name of a config, like `CART { cookie_name: \"cart\" }`")
            );
        }
        let name: Ident = input.parse()?;
        if !input.peek(syn::token::Brace) {
            return Err(input.error(format!(
                "expected `{{` after `{name}`: a config is `{name} {{ key: value, ... }}`"
            )));
        }
        let content;
        braced!(content in input);
        let mut entries = Vec::new();
        let mut syntax_errors = Vec::new();
        while !content.is_empty() {
            match parse_entry(&content) {
                Ok(entry) => entries.push(entry),
                Err(error) => {
                    syntax_errors.push(error);
                    skip_past_comma(&content);
                }
            }
        }
        Ok(Config {
            attrs,
            vis,
            name,
            entries,
            syntax_errors,
        })
    }
}

/// `key: value` and the `,` after it, if any.
fn parse_entry(input: ParseStream<'_>) -> syn::Result<Entry> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!(
            "expected a key, one of {}",
            super::check::allowed_keys()
        )));
    }
    let key = input.call(Ident::parse_any)?;
    input.parse::<Token![:]>()?;
    let value: Value = input.parse()?;
    if !input.is_empty() {
        let lookahead = input.lookahead1();
        if !lookahead.peek(Token![,]) {
            return Err(lookahead.error());
        }
        input.parse::<Token![,]>()?;
    }
    Ok(Entry { key, value })
}

impl Parse for Value {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() || input.peek(Token![,]) {
            return Err(input.error("expected a value"));
        }
        // A literal (or number and unit) is the whole value only if the
        // entry ends after it; `60 * 60` is one (wrong) value, not `60`
        // followed by junk. A key after it is a missing comma, reported by
        // the caller.
        let fork = input.fork();
        if let Some(value) = literal(&fork)? {
            if fork.is_empty() || fork.peek(Token![,]) || starts_entry(&fork) {
                input.advance_to(&fork);
                return Ok(value);
            }
        }
        Ok(Value::Other(tokens_before_comma(input)?))
    }
}

/// A string, boolean or integer literal, the integer with a unit if one follows.
fn literal(input: ParseStream<'_>) -> syn::Result<Option<Value>> {
    Ok(Some(if input.peek(LitStr) {
        Value::Str(input.parse()?)
    } else if input.peek(LitBool) {
        Value::Bool(input.parse()?)
    } else if input.peek(LitInt) {
        let amount = input.parse()?;
        if input.peek(Ident) && !starts_entry(input) {
            Value::Duration {
                amount,
                unit: input.parse()?,
            }
        } else {
            Value::Int(amount)
        }
    } else {
        return Ok(None);
    }))
}

/// `key:` (but not `path::`): the start of the next entry.
fn starts_entry(input: ParseStream<'_>) -> bool {
    input.peek(Ident::peek_any) && input.peek2(Token![:]) && !input.peek2(Token![::])
}

impl ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Value::Str(lit) => lit.to_tokens(tokens),
            Value::Bool(lit) => lit.to_tokens(tokens),
            Value::Int(lit) => lit.to_tokens(tokens),
            Value::Duration { amount, unit } => {
                amount.to_tokens(tokens);
                unit.to_tokens(tokens);
            }
            Value::Other(other) => other.to_tokens(tokens),
        }
    }
}

fn is_comma(tree: &TokenTree) -> bool {
    matches!(tree, TokenTree::Punct(p) if p.as_char() == ',')
}

/// The tokens up to (not including) the next `,` at this level.
fn tokens_before_comma(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut tokens = TokenStream::new();
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if is_comma(&tree) {
                break;
            }
            tokens.extend([tree]);
            rest = next;
        }
        Ok((tokens, rest))
    })
}

/// Error recovery: drops every remaining token.
fn skip_rest(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((_, next)) = rest.token_tree() {
            rest = next;
        }
        Ok(((), rest))
    });
}

/// Error recovery: drops the tokens up to and including the next `,`.
fn skip_past_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            rest = next;
            if is_comma(&tree) {
                break;
            }
        }
        Ok(((), rest))
    });
}
