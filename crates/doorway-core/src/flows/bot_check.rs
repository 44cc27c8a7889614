//! Bot protection: issuing proof-of-work challenges and spending their solutions.
//!
//! A solution is spent before the sign-up it guards runs, in a statement of its own, so every
//! sign-up *attempt* costs one proof of work: a bot cannot reuse one solution to probe which
//! addresses are taken (409) or to retry validation errors. An honest client whose sign-up
//! failed solves a new challenge (the hosted page's widget does so by itself).

use crate::bot_check::{BotChallenge, Refusal, Solution, issue};
use crate::error::Unexpected;
use crate::project::ProjectContext;
use crate::services::Services;

#[derive(Debug, thiserror::Error)]
pub enum BotCheckError {
    #[error("{0}")]
    Refused(Refusal),
    #[error("bot check failed: {0}")]
    Unexpected(#[source] Unexpected),
}

impl From<crate::store::StoreError> for BotCheckError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// A new challenge for the project, signed with its signing key; None when the project does
/// not use bot protection.
pub fn challenge(svc: &Services, ctx: &ProjectContext) -> Result<Option<BotChallenge>, Unexpected> {
    let settings = &ctx.project.settings.bot_protection;
    if !settings.enabled {
        return Ok(None);
    }
    let key = ctx
        .signing_key()
        .ok_or_else(|| Unexpected::context("issuing a bot check", "the project has no signing key"))?;
    Ok(Some(issue(key, settings.max_number, settings.challenge_ttl_secs, svc.clock.now())))
}

/// Lets a sign-up through when the project does not use bot protection, or when `payload` (the
/// base64 ALTCHA solution the client sent) is valid and not spent yet; spends it.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, outcome = tracing::field::Empty))]
pub async fn pass(svc: &Services, ctx: &ProjectContext, payload: Option<&str>) -> Result<(), BotCheckError> {
    let settings = &ctx.project.settings.bot_protection;
    if !settings.enabled {
        return Ok(());
    }
    let result = async {
        let payload = payload.filter(|p| !p.trim().is_empty()).ok_or(BotCheckError::Refused(Refusal::Missing))?;
        let solution = Solution::parse(payload).map_err(BotCheckError::Refused)?;
        let now = svc.clock.now();
        solution.check(ctx.published_keys(now), settings.max_number, now).map_err(BotCheckError::Refused)?;
        let fresh =
            svc.store.spend_bot_challenge(&ctx.project.id, solution.replay_key(), solution.expires_at()).await?;
        if fresh { Ok(()) } else { Err(BotCheckError::Refused(Refusal::Replayed)) }
    }
    .await;
    if let Err(BotCheckError::Refused(refusal)) = &result {
        tracing::info!(reason = ?refusal, "bot check refused");
    }
    super::record_outcome(result)
}
