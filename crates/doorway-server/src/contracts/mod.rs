//! Wire contracts: each parses its requests into core commands and renders outcomes in its
//! own format. No flow logic lives here.

pub mod native;
