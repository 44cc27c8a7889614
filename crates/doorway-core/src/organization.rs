//! Organizations, their slugs and memberships.

use crate::clock::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: String,
    pub project_id: String,
    pub name: String,
    /// Unique per project.
    pub slug: String,
    pub created_at: Timestamp,
}

pub const OWNER: &str = "owner";
/// The roles every organization starts with.
pub const DEFAULT_ROLES: [&str; 3] = ["owner", "admin", "member"];

#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub slug: String,
    pub created_at: Timestamp,
}

/// A user's place in an organization: their role and the organization's workspaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub organization: Organization,
    pub role: String,
    pub workspaces: Vec<Workspace>,
}

/// `Acme Inc.` → `acme-inc`; names with no ASCII letters or digits become `org`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_end_matches('-').chars().take(48).collect();
    slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() { "org".to_owned() } else { slug }
}

/// The n-th candidate for a slug: `acme`, `acme-2`, `acme-3`, …
pub fn slug_candidate(base: &str, attempt: u32) -> String {
    if attempt <= 1 { base.to_owned() } else { format!("{base}-{attempt}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any name: no panic, a non-empty slug of lowercase ASCII letters and digits in
        /// dash-separated runs (no leading, trailing or double dash), at most 48 characters,
        /// and slugifying a slug changes nothing.
        #[test]
        fn slugify_is_total_well_formed_and_idempotent(name in "\\PC{0,80}") {
            let slug = slugify(&name);
            proptest::prop_assert!(!slug.is_empty() && slug.len() <= 48, "{slug:?}");
            proptest::prop_assert!(
                slug.split('-').all(|run| !run.is_empty() && run.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{slug:?}"
            );
            proptest::prop_assert_eq!(slugify(&slug), slug.clone());
            proptest::prop_assert_eq!(slug_candidate(&slug, 1), slug);
        }
    }

    #[test]
    fn slugs_are_lowercase_dashed_ascii() {
        assert_eq!(slugify("Acme Inc"), "acme-inc");
        assert_eq!(slugify("  Acme,  Inc. "), "acme-inc");
        assert_eq!(slugify("Ünïcode GmbH"), "n-code-gmbh");
        assert_eq!(slugify("日本"), "org");
        assert_eq!(slug_candidate("acme-inc", 1), "acme-inc");
        assert_eq!(slug_candidate("acme-inc", 3), "acme-inc-3");
    }
}
