//! A tiny command-line parser: `--name value`, `--name=value` and `--flag`.
//!
//! Enough for two benchmark binaries; no dependency needed.

use std::fmt;
use std::str::FromStr;

/// Command-line arguments not consumed yet.
#[derive(Debug)]
pub struct Args {
    rest: Vec<String>,
}

/// A command line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

impl Args {
    /// Wraps the arguments (without the program name).
    pub fn new<I: IntoIterator<Item = String>>(args: I) -> Self {
        Args {
            rest: args.into_iter().collect(),
        }
    }

    /// Removes and returns the first argument if it does not start with `-`
    /// (a subcommand).
    pub fn subcommand(&mut self) -> Option<String> {
        match self.rest.first() {
            Some(first) if !first.starts_with('-') => Some(self.rest.remove(0)),
            _ => None,
        }
    }

    /// Removes `--name` if present and says whether it was.
    pub fn flag(&mut self, name: &str) -> bool {
        let long = format!("--{name}");
        let before = self.rest.len();
        self.rest.retain(|a| *a != long);
        self.rest.len() != before
    }

    /// Removes `--name value` (or `--name=value`) and parses the value; the
    /// last occurrence wins.
    pub fn value<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, ArgError>
    where
        T::Err: fmt::Display,
    {
        let long = format!("--{name}");
        let prefixed = format!("--{name}=");
        let mut found = None;
        let mut i = 0;
        while i < self.rest.len() {
            if self.rest[i] == long {
                if i + 1 >= self.rest.len() {
                    return Err(ArgError(format!("`{long}` needs a value")));
                }
                found = Some(self.rest.remove(i + 1));
                self.rest.remove(i);
            } else if let Some(v) = self.rest[i].strip_prefix(&prefixed) {
                found = Some(v.to_owned());
                self.rest.remove(i);
            } else {
                i += 1;
            }
        }
        found
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ArgError(format!("`{long} {v}`: {e}")))
            })
            .transpose()
    }

    /// Like [`value`](Self::value), with a default when absent.
    pub fn value_or<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, ArgError>
    where
        T::Err: fmt::Display,
    {
        Ok(self.value(name)?.unwrap_or(default))
    }

    /// Fails if any argument was not consumed.
    pub fn finish(self) -> Result<(), ArgError> {
        match self.rest.first() {
            None => Ok(()),
            Some(a) => Err(ArgError(format!("unexpected argument `{a}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        Args::new(s.split_whitespace().map(String::from))
    }

    #[test]
    fn values_flags_and_leftovers() {
        let mut a = args("send --port 8080 --path=/get --verbose");
        assert_eq!(a.subcommand().as_deref(), Some("send"));
        assert_eq!(a.value::<u16>("port"), Ok(Some(8080)));
        assert_eq!(a.value::<String>("path"), Ok(Some("/get".into())));
        assert_eq!(a.value_or("workers", 1usize), Ok(1));
        assert!(a.flag("verbose"));
        assert!(!a.flag("verbose"));
        assert_eq!(a.finish(), Ok(()));
    }

    #[test]
    fn errors_name_the_argument() {
        let mut a = args("--port x");
        let e = a.value::<u16>("port").unwrap_err();
        assert!(e.0.contains("--port x"), "{e}");
        assert!(args("--port").value::<u16>("port").is_err());
        assert!(args("--bogus 1")
            .finish()
            .unwrap_err()
            .0
            .contains("--bogus"));
        assert_eq!(args("--mode a").subcommand(), None);
    }
}
