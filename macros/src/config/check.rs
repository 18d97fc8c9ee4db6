//! The rules of `session_config!`: one function per rule.
//!
//! The options, their defaults and the rules about the values themselves
//! (cookie token, domain, expiry range, prefix, session name, samesite
//! needs secure, partitioned needs secure, `__Secure-` and `__Host-`) live in `sessionkit-rules`,
//! shared with `SessionConfig::validate` at run time; this file reads the
//! values and decides where each violation points.

use std::collections::HashMap;

use quote::ToTokens;
use sessionkit_rules::{check_all, Field, SameSite, Settings};
use syn::ext::IdentExt;
use syn::{Ident, LitInt};

use super::parse::{Config, Entry, Input, Value};
use crate::errors::{list, Errors};

/// The units `expiry` and `max_lifetime` accept after a number, with their length in seconds.
const UNITS: [(&str, &str, u64); 5] = [
    ("second", "seconds", 1),
    ("minute", "minutes", 60),
    ("hour", "hours", 60 * 60),
    ("day", "days", 24 * 60 * 60),
    ("week", "weeks", 7 * 24 * 60 * 60),
];

/// A config that passed the checks, or a dummy for one that did not.
pub struct Checked<'a> {
    pub config: &'a Config,
    /// `None` when the config has errors: expand emits a default-valued dummy.
    pub values: Option<Values>,
}

/// The options of a config that passed the checks.
pub struct Values {
    /// Every option, written or default.
    pub settings: Settings<String>,
    /// The options written in the config, in the order of `Field::ALL`.
    pub written: Vec<Field>,
}

/// The keys, for messages: `` `cookie_name`, `domain`, ... ``.
pub fn allowed_keys() -> String {
    list(Field::ALL.map(Field::name))
}

/// Checks every config of one call; the configs to emit come back in order,
/// and the errors of all of them together.
pub fn check(input: &Input) -> (Vec<Checked<'_>>, Errors) {
    let mut errors = Errors::default();
    let mut checked = Vec::new();
    let mut names: Vec<&Ident> = Vec::new();
    for config in &input.configs {
        let unique = check_unique_name(&names, &config.name);
        let (values, config_errors) = check_config(config);
        match unique {
            Ok(()) => {
                names.push(&config.name);
                checked.push(Checked {
                    config,
                    values: config_errors.is_empty().then_some(values),
                });
            }
            // Emitting it a second time would only add rustc's own error.
            Err(error) => errors.push(error),
        }
        errors.append(config_errors);
    }
    if let Some(error) = &input.syntax_error {
        errors.push(error.clone());
    }
    (checked, errors)
}

fn check_config(config: &Config) -> (Values, Errors) {
    let mut errors = Errors::default();
    for error in &config.syntax_errors {
        errors.push(error.clone());
    }
    let mut settings = Settings::DEFAULT.map(String::from);
    let mut written: HashMap<Field, &Value> = HashMap::new();
    for Entry { key, value } in &config.entries {
        let field = match check_known_key(key) {
            Ok(field) => field,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if let Err(error) = check_unique_key(&written, field, key) {
            errors.push(error);
            continue;
        }
        written.insert(field, value);
        if let Err(error) = assign(&mut settings, field, value) {
            errors.push(error);
        }
    }
    for violation in check_all(&settings.as_deref()) {
        // Point at the value the rule is about; a rule broken only through
        // defaults points at the config's name.
        let error = match written.get(&violation.field) {
            Some(value) => spanned(value, violation.message),
            None => spanned(&config.name, violation.message),
        };
        errors.push(error);
    }
    let values = Values {
        settings,
        written: Field::ALL
            .into_iter()
            .filter(|field| written.contains_key(field))
            .collect(),
    };
    (values, errors)
}

fn spanned(tokens: impl ToTokens, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new_spanned(tokens, message)
}

/// Two configs of one call may not share a name.
fn check_unique_name(seen: &[&Ident], name: &Ident) -> syn::Result<()> {
    if seen.contains(&name) {
        return Err(spanned(
            name,
            format!("a config named `{name}` is already defined in this `session_config!`"),
        ));
    }
    Ok(())
}

/// A key is one of the options.
fn check_known_key(key: &Ident) -> syn::Result<Field> {
    let name = key.unraw().to_string();
    Field::from_name(&name).ok_or_else(|| {
        spanned(
            key,
            format!("unknown key `{name}`, expected one of {}", allowed_keys()),
        )
    })
}

/// A key is written at most once.
fn check_unique_key(
    written: &HashMap<Field, &Value>,
    field: Field,
    key: &Ident,
) -> syn::Result<()> {
    if written.contains_key(&field) {
        return Err(spanned(
            key,
            format!("`{}` specified more than once", field.name()),
        ));
    }
    Ok(())
}

/// Stores a value of the type its option takes.
fn assign(settings: &mut Settings<String>, field: Field, value: &Value) -> syn::Result<()> {
    match field {
        Field::CookieName => settings.cookie_name = string(field, value, "session")?,
        Field::Domain => settings.domain = Some(string(field, value, "example.com")?),
        Field::Expiry => settings.expiry_secs = duration_secs(field, value)?,
        Field::Httponly => settings.httponly = boolean(field, value)?,
        Field::Secure => settings.secure = boolean(field, value)?,
        Field::Samesite => settings.samesite = Some(samesite(value)?),
        Field::Prefix => settings.prefix = string(field, value, "session:")?,
        Field::Sessioncookie => settings.sessioncookie = boolean(field, value)?,
        Field::SessionName => settings.session_name = string(field, value, "session")?,
        Field::MaxLifetime => settings.max_lifetime_secs = Some(duration_secs(field, value)?),
        Field::HashIds => settings.hash_ids = boolean(field, value)?,
        Field::Partitioned => settings.partitioned = boolean(field, value)?,
    }
    Ok(())
}

/// String options take a string literal.
fn string(field: Field, value: &Value, example: &str) -> syn::Result<String> {
    match value {
        Value::Str(lit) => Ok(lit.value()),
        _ => Err(spanned(
            value,
            format!(
                "`{}` expects a string literal, like `\"{example}\"`",
                field.name()
            ),
        )),
    }
}

/// Flags take `true` or `false`.
fn boolean(field: Field, value: &Value) -> syn::Result<bool> {
    match value {
        Value::Bool(lit) => Ok(lit.value),
        _ => Err(spanned(
            value,
            format!("`{}` expects `true` or `false`", field.name()),
        )),
    }
}

/// `samesite` is one of the closed set of `SameSite::ALL`.
fn samesite(value: &Value) -> syn::Result<SameSite> {
    match value {
        Value::Str(lit) => SameSite::parse(&lit.value()).map_err(|message| spanned(lit, message)),
        _ => {
            let allowed: Vec<String> = SameSite::ALL
                .iter()
                .map(|(name, _)| format!("\"{name}\""))
                .collect();
            Err(spanned(
                value,
                format!("`samesite` expects one of {}", allowed.join(", ")),
            ))
        }
    }
}

/// `expiry` and `max_lifetime` are an unsuffixed number of seconds, or a
/// number and a unit from `UNITS`, that fits in 64 bits.
fn duration_secs(field: Field, value: &Value) -> syn::Result<u64> {
    let name = field.name();
    match value {
        Value::Int(secs) => amount(field, secs),
        Value::Duration { amount: n, unit } => {
            let unit_secs = unit_secs(field, unit)?;
            let n_value = amount(field, n)?;
            n_value.checked_mul(unit_secs).ok_or_else(|| {
                spanned(
                    value,
                    format!(
                        "`{name}` of {n_value} {unit} does not fit in a 64-bit number of seconds"
                    ),
                )
            })
        }
        _ => Err(spanned(
            value,
            format!(
                "`{name}` expects a number of seconds, like `604800`, or a duration, like `7 days`"
            ),
        )),
    }
}

fn amount(field: Field, lit: &LitInt) -> syn::Result<u64> {
    let name = field.name();
    let suffix = lit.suffix();
    if !suffix.is_empty() {
        let fix = if UNITS
            .iter()
            .any(|(one, many, _)| suffix == *one || suffix == *many)
        {
            format!("put a space between the number and `{suffix}`")
        } else {
            format!("remove `{suffix}`")
        };
        return Err(spanned(
            lit,
            format!("`{name}` takes a plain number, not one suffixed with `{suffix}`; {fix}"),
        ));
    }
    lit.base10_parse::<u64>().map_err(|_| {
        spanned(
            lit,
            format!(
                "`{name}` of {} does not fit in a 64-bit number of seconds",
                lit.base10_digits()
            ),
        )
    })
}

fn unit_secs(field: Field, unit: &Ident) -> syn::Result<u64> {
    let unit_name = unit.to_string();
    UNITS
        .iter()
        .find(|(one, many, _)| unit_name == *one || unit_name == *many)
        .map(|(_, _, secs)| *secs)
        .ok_or_else(|| {
            spanned(
                unit,
                format!(
                    "unknown `{}` unit `{unit_name}`, expected one of {} (or the singular)",
                    field.name(),
                    list(UNITS.iter().map(|(_, many, _)| *many))
                ),
            )
        })
}
