//! Proof-of-work bot protection, compatible with ALTCHA's challenge format (v1, `SHA-256`).
//!
//! A challenge is `{algorithm, challenge, maxnumber, salt, signature}`: the server picks a
//! secret `number` up to `maxnumber` and publishes `challenge = hex(sha256(salt + number))`;
//! the client finds the number by brute force and sends back base64 of
//! `{algorithm, challenge, number, salt, signature}`. `signature = hex(hmac(key, challenge))`
//! proves the server made it, and the salt carries its expiry (`?expires=<unix>&`), so nothing
//! is stored until a solution is spent (the replay store makes each solution count once).
//!
//! The HMAC key is derived from the project's signing key (as verification codes are), so it
//! is per project, never in a response, the same on every instance sharing the database, and a
//! challenge made just before a key rotation still verifies with the replaced key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::keys::ProjectKey;

/// `bot_protection` of a project: off by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotProtectionSettings {
    /// Every sign-up must carry a solved challenge.
    pub enabled: bool,
    /// The largest secret number: the work is about half of it in SHA-256 hashes on average
    /// (100 000 is well under a second in a browser).
    pub max_number: u64,
    /// How long a challenge may be solved and used, in seconds.
    pub challenge_ttl_secs: u32,
}

impl Default for BotProtectionSettings {
    fn default() -> Self {
        Self { enabled: false, max_number: 100_000, challenge_ttl_secs: 600 }
    }
}

/// Accepted `max_number`: below 1 000 the check costs a bot nothing (tests use less, with the
/// check on a project of their own, so only the upper bound is a hard limit).
pub const MAX_NUMBER_RANGE: std::ops::RangeInclusive<u64> = 1..=10_000_000;
pub const CHALLENGE_TTL_RANGE: std::ops::RangeInclusive<u32> = 30..=3600;

impl BotProtectionSettings {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !MAX_NUMBER_RANGE.contains(&self.max_number) {
            out.push((
                "bot_protection.max_number",
                format!("must be between {} and {}", MAX_NUMBER_RANGE.start(), MAX_NUMBER_RANGE.end()),
            ));
        }
        if !CHALLENGE_TTL_RANGE.contains(&self.challenge_ttl_secs) {
            out.push((
                "bot_protection.challenge_ttl_secs",
                format!("must be between {} and {} seconds", CHALLENGE_TTL_RANGE.start(), CHALLENGE_TTL_RANGE.end()),
            ));
        }
        out
    }
}

pub const ALGORITHM: &str = "SHA-256";

/// A challenge as the ALTCHA widget reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotChallenge {
    /// Always `SHA-256`.
    pub algorithm: &'static str,
    /// `hex(sha256(salt + number))`.
    pub challenge: String,
    pub maxnumber: u64,
    /// Random hex, then `?expires=<unix seconds>&`.
    pub salt: String,
    /// `hex(hmac_sha256(key, challenge))`.
    pub signature: String,
    /// When it stops being accepted.
    #[serde(skip)]
    pub expires_at: Timestamp,
}

/// Why a solution is refused. The contracts answer every one the same way (with this text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this project requires a solved bot check (ALTCHA payload) with every sign-up")]
    Missing,
    #[error("the bot check payload is not a base64 ALTCHA solution")]
    Malformed,
    #[error("the bot check solution is not valid for this project")]
    Invalid,
    #[error("the bot check challenge has expired; solve a new one")]
    Expired,
    #[error("this bot check solution was already used; solve a new one")]
    Replayed,
}

/// A solution as the client sends it, checked for shape only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
    expires_at: Timestamp,
}

/// The payload's JSON. Unknown members (`took`, which the widget adds) are ignored.
#[derive(Deserialize)]
struct Payload {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// Salts are `<24 hex>?expires=<unix seconds>&` and nothing else: a looser salt would let a
/// client move digits between the salt and the number (`…expires=17` + `00123` hashes like
/// `…expires=1700` + `123`) and so push its expiry out.
fn parse_salt(salt: &str) -> Option<Timestamp> {
    let (random, rest) = salt.split_once("?expires=")?;
    let seconds = rest.strip_suffix('&')?;
    let canonical = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
    if random.len() != 24 || !random.bytes().all(|b| b.is_ascii_hexdigit()) || !canonical(seconds) {
        return None;
    }
    let seconds: i64 = seconds.parse().ok()?;
    Some(Timestamp::from_millis(seconds.checked_mul(1000)?))
}

impl Solution {
    /// Reads the base64 (standard or URL-safe alphabet, padded or not) JSON payload.
    pub fn parse(payload: &str) -> Result<Self, Refusal> {
        let payload = payload.trim();
        let bytes = STANDARD
            .decode(payload)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(payload))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(payload))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload))
            .map_err(|_| Refusal::Malformed)?;
        let p: Payload = serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)?;
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if p.algorithm != ALGORITHM || !hex64(&p.challenge) || !hex64(&p.signature) {
            return Err(Refusal::Invalid);
        }
        let expires_at = parse_salt(&p.salt).ok_or(Refusal::Invalid)?;
        Ok(Self {
            challenge: p.challenge.to_ascii_lowercase(),
            number: p.number,
            salt: p.salt,
            signature: p.signature.to_ascii_lowercase(),
            expires_at,
        })
    }

    /// What the replay store keeps: the challenge, unique per salt (and so per solution).
    pub fn replay_key(&self) -> &str {
        &self.challenge
    }

    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// Checks everything but replay: made by one of `keys`, unexpired at `now`, the number
    /// within `max_number` and the right answer.
    pub fn check<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k ProjectKey>,
        max_number: u64,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        let signed = keys.into_iter().any(|key| {
            let mut mac = mac_for(key);
            mac.update(self.challenge.as_bytes());
            decode_hex(&self.signature).is_some_and(|sig| mac.verify_slice(&sig).is_ok())
        });
        if !signed {
            return Err(Refusal::Invalid);
        }
        if now >= self.expires_at {
            return Err(Refusal::Expired);
        }
        if self.number > max_number || hash_hex(&self.salt, self.number) != self.challenge {
            return Err(Refusal::Invalid);
        }
        Ok(())
    }
}

/// A new challenge signed with `key`, valid for `ttl_secs` from `now`.
pub fn issue(key: &ProjectKey, max_number: u64, ttl_secs: u32, now: Timestamp) -> BotChallenge {
    let mut rng = rand::rngs::OsRng;
    let random: [u8; 12] = rng.r#gen();
    let expires_at = now.plus_seconds(i64::from(ttl_secs));
    let salt = format!("{}?expires={}&", encode_hex(&random), expires_at.millis().div_euclid(1000));
    // The expiry is in whole seconds; the stored time is the one the salt says.
    let expires_at = parse_salt(&salt).unwrap_or(expires_at);
    let number = rng.gen_range(0..=max_number);
    let challenge = hash_hex(&salt, number);
    let mut mac = mac_for(key);
    mac.update(challenge.as_bytes());
    let signature = encode_hex(&mac.finalize().into_bytes());
    BotChallenge { algorithm: ALGORITHM, challenge, maxnumber: max_number, salt, signature, expires_at }
}

/// The challenge HMAC key of a project key: a label of its own, so it says nothing about any
/// other secret derived from the same key.
fn mac_for(key: &ProjectKey) -> Hmac<Sha256> {
    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut derive = Hmac::<Sha256>::new_from_slice(key.secret_bytes()).expect("HMAC takes any key length");
    derive.update(b"doorway-bot-check:altcha-hmac-key");
    let derived = derive.finalize().into_bytes();
    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    Hmac::<Sha256>::new_from_slice(&derived).expect("HMAC takes any key length")
}

fn hash_hex(salt: &str, number: u64) -> String {
    encode_hex(&Sha256::digest(format!("{salt}{number}").as_bytes()))
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Solves a challenge the way the widget does.
    fn solve(challenge: &BotChallenge) -> Option<u64> {
        (0..=challenge.maxnumber).find(|n| hash_hex(&challenge.salt, *n) == challenge.challenge)
    }

    /// The payload a client sends for `number`.
    fn payload(challenge: &BotChallenge, number: u64) -> String {
        let json = serde_json::json!({
            "algorithm": challenge.algorithm,
            "challenge": challenge.challenge,
            "number": number,
            "salt": challenge.salt,
            "signature": challenge.signature,
        });
        STANDARD.encode(json.to_string())
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn a_solved_challenge_checks_once_parsed() {
        let key = ProjectKey::generate(t(0));
        let challenge = issue(&key, 500, 60, t(1_000));
        assert!(challenge.salt.ends_with("?expires=1060&"), "{}", challenge.salt);
        let number = solve(&challenge).unwrap();
        let solution = Solution::parse(&payload(&challenge, number)).unwrap();
        assert_eq!(solution.check([&key], 500, t(1_059)), Ok(()));
        assert_eq!(solution.replay_key(), challenge.challenge);
        assert_eq!(solution.expires_at(), t(1_060));
    }

    #[test]
    fn wrong_key_number_expiry_and_limit_are_refused() {
        let key = ProjectKey::generate(t(0));
        let other = ProjectKey::generate(t(0));
        let challenge = issue(&key, 200, 60, t(1_000));
        let number = solve(&challenge).unwrap();
        let solution = Solution::parse(&payload(&challenge, number)).unwrap();
        assert_eq!(solution.check([&other], 200, t(1_001)), Err(Refusal::Invalid));
        assert_eq!(solution.check([&other, &key], 200, t(1_001)), Ok(()), "a replaced key still verifies");
        assert_eq!(solution.check([&key], 200, t(1_060)), Err(Refusal::Expired));
        if number > 0 {
            assert_eq!(solution.check([&key], number - 1, t(1_001)), Err(Refusal::Invalid));
        }
        let wrong = Solution::parse(&payload(&challenge, number + 1)).unwrap();
        assert_eq!(wrong.check([&key], 1_000, t(1_001)), Err(Refusal::Invalid));
    }

    #[test]
    fn digits_cannot_move_from_the_number_into_the_expiry() {
        let key = ProjectKey::generate(t(0));
        let challenge = issue(&key, 50, 60, t(1_000));
        let number = solve(&challenge).unwrap();
        let spliced = BotChallenge { salt: challenge.salt.trim_end_matches('&').to_owned(), ..challenge.clone() };
        assert_eq!(Solution::parse(&payload(&spliced, number)), Err(Refusal::Invalid));
    }

    #[test]
    fn malformed_payloads_are_told_apart_from_wrong_ones() {
        assert_eq!(Solution::parse("not base64!"), Err(Refusal::Malformed));
        assert_eq!(Solution::parse(&STANDARD.encode("[1]")), Err(Refusal::Malformed));
        let key = ProjectKey::generate(t(0));
        let challenge = issue(&key, 10, 60, t(0));
        let sha1 = BotChallenge { algorithm: "SHA-1", ..challenge };
        assert_eq!(Solution::parse(&payload(&sha1, 1)), Err(Refusal::Invalid));
    }

    #[test]
    fn settings_are_checked() {
        assert!(BotProtectionSettings::default().problems().is_empty());
        let bad = BotProtectionSettings { enabled: true, max_number: 0, challenge_ttl_secs: 5 };
        let keys: Vec<_> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["bot_protection.max_number", "bot_protection.challenge_ttl_secs"]);
    }
}
