//! Rate limits by GCRA. One implementation keeps state in memory (one process, SQLite); the
//! other in the database (many instances on PostgreSQL share one count).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub limit: u32,
    pub window_secs: u32,
}

impl Rule {
    pub const fn per_hour(limit: u32) -> Self {
        Self { limit, window_secs: 3600 }
    }
}

/// Per-project limits; the defaults are seed 002's ("5 attempts per IP per hour" …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// Email + password sign-ups, per client IP.
    pub password_signup: Rule,
    /// OAuth sign-up starts, per client IP.
    pub oauth_signup: Rule,
    /// Email-only sign-ups (Storyden), per client IP.
    pub email_signup: Rule,
    /// Mails with a new verification or one-time code to one address caused by one requester
    /// (client IP; IPv6 by /64), so a third party spends only its own budget, never the owner's.
    pub verification_email: Rule,
    /// Every mail with a new code to one address, whoever asks: bounds mail bombing from many
    /// client addresses.
    pub verification_email_per_address: Rule,
    /// Re-sends of the live code to one address, whoever asks. They spend no budget (the mail
    /// goes to the owner with the code the owner already has); this only bounds mail bombing.
    pub verification_resend: Rule,
    /// Password sign-in attempts, per client IP.
    pub sign_in: Rule,
    /// Codes and links presented (verification and sign-in), per client IP: guessing is
    /// already bounded per code; this bounds one client's guesses across addresses.
    pub code_verification: Rule,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            password_signup: Rule::per_hour(5),
            oauth_signup: Rule::per_hour(20),
            email_signup: Rule::per_hour(10),
            verification_email: Rule::per_hour(3),
            verification_email_per_address: Rule::per_hour(10),
            verification_resend: Rule::per_hour(2),
            sign_in: Rule { limit: 30, window_secs: 900 },
            code_verification: Rule { limit: 30, window_secs: 900 },
        }
    }
}

impl RateLimits {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let rules = [
            ("rate_limits.password_signup", self.password_signup),
            ("rate_limits.oauth_signup", self.oauth_signup),
            ("rate_limits.email_signup", self.email_signup),
            ("rate_limits.verification_email", self.verification_email),
            ("rate_limits.verification_email_per_address", self.verification_email_per_address),
            ("rate_limits.verification_resend", self.verification_resend),
            ("rate_limits.sign_in", self.sign_in),
            ("rate_limits.code_verification", self.code_verification),
        ];
        rules
            .into_iter()
            .filter(|(_, r)| r.limit == 0 || r.window_secs == 0)
            .map(|(k, _)| (k, "limit and window_secs must both be at least 1".to_owned()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Refused: seconds until one more hit is allowed. Allowed: seconds until the whole
    /// budget is back.
    pub reset_secs: u64,
}

/// GCRA (generic cell rate algorithm): a rule of `limit` per `window_secs` lets one hit
/// through every `interval` and at most `limit` at once. The state of a key is its
/// theoretical arrival time (TAT): the time at which its budget is full again. Unlike a fixed
/// window there is no boundary at which the count resets, so a burst never doubles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Milliseconds of budget one hit costs (rounded up, so a rule is never looser).
    pub interval_ms: i64,
    /// Milliseconds of budget a key holds when full: `limit` hits.
    pub capacity_ms: i64,
}

impl Gcra {
    pub fn of(rule: Rule) -> Self {
        let limit = u64::from(rule.limit.max(1));
        let interval_ms = (u64::from(rule.window_secs.max(1)) * 1000).div_ceil(limit);
        // The capacity is the window rounded up to a multiple of the limit: both fit an i64.
        Self { interval_ms: interval_ms as i64, capacity_ms: (interval_ms * limit) as i64 }
    }

    /// The TAT after a hit at `now` against the stored `tat` (none: full budget), if allowed.
    /// The store's SQL computes the same thing in one statement.
    pub fn next_tat(self, tat: Option<i64>, now: Timestamp) -> Option<i64> {
        let next = tat.unwrap_or(i64::MIN).max(now.millis()).saturating_add(self.interval_ms);
        (next - now.millis() <= self.capacity_ms).then_some(next)
    }

    /// The decision for a hit at `now`: `tat` is the new TAT when allowed, the unchanged
    /// stored one when refused.
    pub fn decide(self, rule: Rule, allowed: bool, tat: i64, now: Timestamp) -> Decision {
        let ahead = (tat - now.millis()).max(0);
        let (remaining, reset_ms) = if allowed {
            ((self.capacity_ms - ahead) / self.interval_ms, ahead)
        } else {
            (0, (ahead + self.interval_ms - self.capacity_ms).max(0))
        };
        Decision {
            allowed,
            limit: rule.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_secs: (reset_ms as u64).div_ceil(1000).max(1),
        }
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit against `key` and says whether it is within the rule. A refused hit
    /// costs nothing, so hammering a closed key does not keep it closed.
    async fn hit(&self, key: &str, rule: Rule, now: Timestamp) -> Result<Decision, StoreError>;
}

/// TATs in process memory (one instance, SQLite). Rules differ per key, which `governor`'s
/// keyed limiters (one quota per limiter) do not fit, so the few lines of GCRA live here.
#[derive(Default)]
pub struct MemoryRateLimiter {
    tats: Mutex<HashMap<String, i64>>,
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, rule: Rule, now: Timestamp) -> Result<Decision, StoreError> {
        let gcra = Gcra::of(rule);
        let mut tats = self.tats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if tats.len() > 100_000 {
            // Bound memory: a key whose TAT has passed is as good as absent.
            tats.retain(|_, tat| *tat > now.millis());
        }
        let stored = tats.get(key).copied();
        Ok(match gcra.next_tat(stored, now) {
            Some(next) => {
                tats.insert(key.to_owned(), next);
                gcra.decide(rule, true, next, now)
            }
            None => gcra.decide(rule, false, stored.unwrap_or(now.millis()), now),
        })
    }
}

/// TATs in the database: one atomic statement per hit, shared by every instance.
pub struct StoreRateLimiter {
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl RateLimiter for StoreRateLimiter {
    async fn hit(&self, key: &str, rule: Rule, now: Timestamp) -> Result<Decision, StoreError> {
        let gcra = Gcra::of(rule);
        let (allowed, tat) = self.store.rate_limit_hit(key, now, gcra).await?;
        Ok(gcra.decide(rule, allowed, tat, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn interval_and_capacity_follow_the_rule() {
        assert_eq!(Gcra::of(Rule::per_hour(5)), Gcra { interval_ms: 720_000, capacity_ms: HOUR });
        assert_eq!(Gcra::of(Rule { limit: 3, window_secs: 1 }), Gcra { interval_ms: 334, capacity_ms: 1002 });
    }

    #[test]
    fn gcra_allows_a_burst_of_the_limit_then_one_per_interval() {
        let gcra = Gcra::of(Rule::per_hour(5));
        let t0 = Timestamp::from_millis(10 * HOUR);
        let mut tat = None;
        for i in 1..=5 {
            tat = Some(gcra.next_tat(tat, t0).expect("within the burst"));
            assert_eq!(tat, Some(t0.millis() + i * 720_000));
        }
        assert_eq!(gcra.next_tat(tat, t0), None, "the sixth at once");
        assert_eq!(gcra.next_tat(tat, t0.plus_seconds(719)), None, "just before one interval");
        assert_eq!(gcra.next_tat(tat, t0.plus_seconds(720)), Some(t0.millis() + 6 * 720_000));
        // An idle key is full again, never fuller.
        assert_eq!(gcra.next_tat(tat, t0.plus_seconds(10 * 3600)), Some(t0.millis() + 10 * HOUR + 720_000));
    }

    #[test]
    fn decisions_report_remaining_and_reset() {
        let rule = Rule::per_hour(5);
        let gcra = Gcra::of(rule);
        let now = Timestamp::from_millis(HOUR);
        let first = gcra.decide(rule, true, now.millis() + 720_000, now);
        assert_eq!((first.remaining, first.reset_secs), (4, 720));
        let last = gcra.decide(rule, true, now.millis() + HOUR, now);
        assert_eq!((last.remaining, last.reset_secs), (0, 3600));
        let refused = gcra.decide(rule, false, now.millis() + HOUR, now.plus_seconds(60));
        assert_eq!((refused.allowed, refused.remaining, refused.reset_secs), (false, 0, 660));
    }

    #[tokio::test]
    async fn no_burst_at_a_fixed_window_boundary() {
        let limiter = MemoryRateLimiter::default();
        let rule = Rule::per_hour(5);
        // One minute before the top of an hour, where a fixed window would reset.
        let t = Timestamp::from_millis(10 * HOUR - 60_000);
        for _ in 0..5 {
            assert!(limiter.hit("k", rule, t).await.unwrap().allowed);
        }
        let after_boundary = limiter.hit("k", rule, t.plus_seconds(120)).await.unwrap();
        assert!(!after_boundary.allowed);
        assert_eq!(after_boundary.reset_secs, 600);
        assert!(limiter.hit("other", rule, t).await.unwrap().allowed, "keys are separate");
        // Refused hits cost nothing: the next one is allowed 12 minutes after the burst.
        assert!(!limiter.hit("k", rule, t.plus_seconds(719)).await.unwrap().allowed);
        assert!(limiter.hit("k", rule, t.plus_seconds(720)).await.unwrap().allowed);
        assert!(!limiter.hit("k", rule, t.plus_seconds(720)).await.unwrap().allowed);
    }
}

/// A refusal: retry after `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub limit: u32,
    pub retry_after_secs: u64,
}
