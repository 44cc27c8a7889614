//! Public identifiers: a type prefix and a UUIDv7, so ids sort by creation time.

use uuid::Uuid;

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_carry_their_prefix_and_are_unique() {
        let a = super::new_id("prj");
        let b = super::new_id("prj");
        assert!(a.starts_with("prj_"));
        assert_eq!(a.len(), 4 + 32);
        assert_ne!(a, b);
    }
}
