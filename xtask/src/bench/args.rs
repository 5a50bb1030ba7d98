//! The walk over `--flag [value]` arguments that every `bench` subcommand's options share: each
//! error names the flag and ends with the subcommand's usage.

use anyhow::{anyhow, Context, Result};
use std::str::FromStr;

/// A subcommand's arguments, read one flag at a time.
pub struct Args<'a> {
    rest: std::slice::Iter<'a, String>,
    usage: &'static str,
    /// The flag read last.
    flag: &'a str,
}

impl<'a> Args<'a> {
    /// Reads `args`; errors end with `usage`.
    pub fn new(args: &'a [String], usage: &'static str) -> Args<'a> {
        Args {
            rest: args.iter(),
            usage,
            flag: "",
        }
    }

    /// The next flag, or `None` after the last.
    pub fn flag(&mut self) -> Option<&'a str> {
        self.flag = self.rest.next()?;
        Some(self.flag)
    }

    /// The value following the current flag.
    pub fn value(&mut self) -> Result<&'a str> {
        let (flag, usage) = (self.flag, self.usage);
        self.rest
            .next()
            .map(String::as_str)
            .with_context(|| format!("{flag} needs a value\n{usage}"))
    }

    /// The value following the current flag, parsed.
    pub fn parse<T: FromStr>(&mut self) -> Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        Ok(self.value()?.parse()?)
    }

    /// The value following the current flag, a comma-separated list, each item trimmed and
    /// parsed.
    pub fn list<T: FromStr>(&mut self) -> Result<Vec<T>>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        Ok(self
            .value()?
            .split(',')
            .map(|s| s.trim().parse::<T>())
            .collect::<Result<_, _>>()?)
    }

    /// The error for a flag the subcommand does not know (the current one).
    pub fn unknown(&self) -> anyhow::Error {
        anyhow!("unknown option {:?}\n{}", self.flag, self.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_values_and_errors() {
        let v = strings(&["--n", "7", "--list", "1, 2,3", "--odd", "--last"]);
        let mut a = Args::new(&v, "usage: x");
        assert_eq!(a.flag(), Some("--n"));
        assert_eq!(a.parse::<usize>().expect("a number"), 7);
        assert_eq!(a.flag(), Some("--list"));
        assert_eq!(a.list::<u8>().expect("a list"), [1, 2, 3]);
        assert_eq!(a.flag(), Some("--odd"));
        assert_eq!(
            a.unknown().to_string(),
            "unknown option \"--odd\"\nusage: x"
        );
        assert_eq!(a.flag(), Some("--last"));
        assert_eq!(
            a.value().map_err(|e| e.to_string()),
            Err("--last needs a value\nusage: x".to_string())
        );
        assert_eq!(a.flag(), None);
    }
}
