//! Email addresses, normalised on the way in: trimmed, NFKC-normalised and lowercased (so
//! `ｋim@example.com` and `kim@example.com` are one address), IDN domains in ASCII form.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Email is required")]
    Empty,
    #[error("Email must be a valid email address")]
    Invalid,
    #[error("Email must be at most 254 characters")]
    TooLong,
}

impl EmailAddress {
    /// The longest address (RFC 5321's path limit less its angle brackets), documented as every
    /// contract's `email` `maxLength`.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(EmailError::Empty);
        }
        if raw.len() > 320 {
            return Err(EmailError::TooLong);
        }
        let raw = crate::lookalike::fold(raw);
        let (local, domain) = raw.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if local.is_empty()
            || local.len() > 64
            || local.chars().any(|c| c.is_whitespace() || crate::lookalike::is_hidden(c))
        {
            return Err(EmailError::Invalid);
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::Invalid)?;
        // A public address needs a dotted domain whose last label is not numeric.
        let tld = domain.rsplit('.').next().unwrap_or("");
        if !domain.contains('.') || tld.is_empty() || tld.chars().all(|c| c.is_ascii_digit()) {
            return Err(EmailError::Invalid);
        }
        let address = format!("{local}@{domain}");
        if address.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !email_address::EmailAddress::is_valid(&address) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a value that was normalised before it was stored.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_space_and_idn_domains() {
        assert_eq!(EmailAddress::parse("  John.Doe@Example.COM ").unwrap().as_str(), "john.doe@example.com");
        assert_eq!(EmailAddress::parse("user@bücher.example").unwrap().as_str(), "user@xn--bcher-kva.example");
        assert_eq!(EmailAddress::parse("a+tag@sub.example.co.uk").unwrap().as_str(), "a+tag@sub.example.co.uk");
    }

    #[test]
    fn look_alike_addresses_are_one_address() {
        let plain = EmailAddress::parse("kim@example.com").unwrap();
        for twin in ["ｋim@example.com", "ＫＩＭ@example.com", "kim＠example.com", "KIM@ｅxample.com"] {
            assert_eq!(EmailAddress::parse(twin).unwrap(), plain, "{twin}");
        }
        for hidden in ["ki\u{200B}m@example.com", "kim\u{202E}@example.com", "k\u{00AD}im@example.com"] {
            assert_eq!(EmailAddress::parse(hidden), Err(EmailError::Invalid), "{hidden:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_is_idempotent(raw in "[a-zA-Z0-9.+_ｋＡ-Ｚａ-ｚİß-]{1,20}@[a-zA-Zｅü]{1,10}\\.[a-z]{2,4}") {
            if let Ok(once) = EmailAddress::parse(&raw) {
                proptest::prop_assert_eq!(EmailAddress::parse(once.as_str()), Ok(once.clone()));
            }
        }
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "us er@example.com",
            "user@exa mple.com",
            "user@1.2.3.4",
            "user@-bad-.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(EmailAddress::parse(" "), Err(EmailError::Empty));
        assert_eq!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(65))), Err(EmailError::Invalid));
    }
}
