//! Password sign-up, by address or by handle: the attempt is counted, the password held against
//! the policy, and the account created by the shared pipeline (`flows::account`).

use crate::events::ClientInfo;
use crate::flows::account::{Credential, NewAccount, OrganizationPlan, create_account};
use crate::flows::{Audit, enforce_rate_limit, record_outcome};
use crate::password::{Password, PasswordPolicy};
use crate::project::ProjectContext;
use crate::services::Services;
use crate::user::{Login, ProfileDraft};

/// The sign-up error and outcome live with the pipeline; contracts import them from here too.
pub use crate::flows::account::{SignupError, SignupOutcome};

pub struct PasswordSignup {
    /// An address, or a handle for an account without one (which then gets no mail).
    pub login: Login,
    pub password: Password,
    /// The rule the password must meet (contracts differ).
    pub policy: PasswordPolicy,
    pub profile: ProfileDraft,
    pub organization_name: Option<String>,
    pub client: ClientInfo,
}

const METHOD: &str = "password";

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = METHOD, outcome = tracing::field::Empty))]
pub async fn sign_up(svc: &Services, ctx: &ProjectContext, cmd: PasswordSignup) -> Result<SignupOutcome, SignupError> {
    let result = async {
        let audit = Audit { ctx, action: "signup", method: Some(METHOD), client: &cmd.client };
        let rule = ctx.project.settings.rate_limits.password_signup;
        enforce_rate_limit(svc, &audit, "password_signup", rule, cmd.client.ip.as_deref())
            .await
            .map_err(SignupError::RateLimited)?;
        let mut profile = cmd.profile;
        let email = match cmd.login {
            Login::Email(email) => Some(email),
            Login::Username(username) => {
                profile.username = Some(username);
                None
            }
        };
        let account = NewAccount {
            email,
            credential: Some(Credential::checked(cmd.password, &cmd.policy)?),
            profile,
            organization: cmd.organization_name.map(OrganizationPlan::Named),
            send_verification: ctx.project.settings.signup.verify_email,
            ..NewAccount::without_address()
        };
        create_account(svc, ctx, &audit, account).await
    }
    .await;
    record_outcome(result)
}
