//! The cause behind a flow's `Unexpected` error: kept as a source, never flattened to text.

use std::error::Error;
use std::fmt;

type Source = Box<dyn Error + Send + Sync + 'static>;

/// An unexpected failure with its cause chain intact. Flows carry it as
/// `Unexpected(#[source] Unexpected)`; `Display` reads like the cause (with the context, if
/// one was given, in front), and `source()` hands out the original error so the edge can log
/// the whole chain or downcast it.
pub struct Unexpected {
    context: Option<&'static str>,
    source: Source,
}

impl Unexpected {
    pub fn new(source: impl Into<Source>) -> Self {
        Self { context: None, source: source.into() }
    }

    /// `what` names the step that failed, e.g. `"signing the access token"`.
    pub fn context(what: &'static str, source: impl Into<Source>) -> Self {
        Self { context: Some(what), source: source.into() }
    }

    /// The original error, if it is a `T`.
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&T> {
        self.source.downcast_ref::<T>()
    }

    /// The storage outage behind this failure, if that is what it is (contracts answer 503).
    pub fn outage(&self) -> Option<crate::store::Outage> {
        self.downcast_ref::<crate::store::StoreError>().and_then(crate::store::StoreError::outage)
    }
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.context {
            Some(what) => write!(f, "{what}: {}", self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

impl fmt::Debug for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unexpected").field("context", &self.context).field("source", &self.source).finish()
    }
}

impl Error for Unexpected {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<crate::store::StoreError> for Unexpected {
    fn from(e: crate::store::StoreError) -> Self {
        Self::new(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn keeps_the_store_error_as_its_source() {
        let e = Unexpected::from(StoreError::unexpected(std::io::Error::other("disk on fire")));
        assert_eq!(e.to_string(), "storage failure: disk on fire");
        assert!(matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Unexpected(_))));
        let mut innermost: &dyn Error = &e;
        while let Some(next) = innermost.source() {
            innermost = next;
        }
        assert_eq!(innermost.to_string(), "disk on fire");
    }

    #[test]
    fn context_goes_in_front() {
        let e = Unexpected::context("signing the access token", std::io::Error::other("no key"));
        assert_eq!(e.to_string(), "signing the access token: no key");
    }
}
