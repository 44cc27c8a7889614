//! Talking to OAuth / OpenID Connect providers: OIDC by discovery (openidconnect: ID token
//! signature, issuer, audience and nonce checked; PKCE S256), GitHub by OAuth2 plus its user
//! and emails APIs. Redirects are never followed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use doorway_core::email::EmailAddress;
use doorway_core::oauth::{ExternalProfile, IdentityProviders, Provider, ProviderError, ProviderKind, RedirectSecrets};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::Deserialize;

/// Discovery documents are reused this long.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);

pub struct HttpIdentityProviders {
    http: reqwest::Client,
    discovered: Mutex<HashMap<String, (Instant, CoreProviderMetadata)>>,
}

impl HttpIdentityProviders {
    #[allow(
        clippy::expect_used,
        reason = "start-up: a client built from static settings only fails if TLS cannot initialise"
    )]
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("Doorway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self { http, discovered: Mutex::default() }
    }

    async fn metadata(&self, issuer: &str) -> Result<CoreProviderMetadata, ProviderError> {
        if let Some((at, m)) = self.discovered.lock().unwrap_or_else(PoisonError::into_inner).get(issuer)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(m.clone());
        }
        let url = IssuerUrl::new(issuer.to_owned()).map_err(|e| ProviderError::Failed(format!("bad issuer: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| ProviderError::Failed(format!("discovery failed: {e}")))?;
        self.discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn oidc_client(
        &self,
        provider: &Provider,
        issuer: &str,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ProviderError,
    > {
        let metadata = self.metadata(issuer).await?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| ProviderError::Failed(format!("bad redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.settings.client_id.clone()),
            provider.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    async fn oidc_exchange(
        &self,
        provider: &Provider,
        issuer: &str,
        code: &str,
        redirect_uri: &str,
        secrets: Option<&RedirectSecrets>,
    ) -> Result<ExternalProfile, ProviderError> {
        let client = self.oidc_client(provider, issuer, redirect_uri).await?;
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Failed(format!("no token endpoint: {e}")))?;
        if let Some(s) = secrets {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(s.pkce_verifier.clone()));
        }
        let token = request.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => ProviderError::Rejected(r.error().to_string()),
            other => ProviderError::Failed(other.to_string()),
        })?;
        let id_token = token.id_token().ok_or_else(|| ProviderError::Failed("the provider sent no ID token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = match secrets {
            Some(s) => id_token.claims(&verifier, &Nonce::new(s.nonce.clone())),
            // A code the client obtained itself: Doorway chose no nonce to check.
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
        }
        .map_err(|e| ProviderError::Failed(format!("ID token refused: {e}")))?;
        let _ = token.access_token();
        Ok(ExternalProfile {
            provider: provider.id.clone(),
            subject: claims.subject().to_string(),
            email: claims.email().and_then(|e| EmailAddress::parse(e.as_str()).ok()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            avatar_url: claims.picture().and_then(|p| p.get(None)).map(|p| p.to_string()),
        })
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one private call site; the arguments are the provider's endpoints and the callback's values"
    )]
    async fn github_exchange(
        &self,
        provider: &Provider,
        token_url: &str,
        user_url: &str,
        emails_url: &str,
        code: &str,
        redirect_uri: &str,
        secrets: Option<&RedirectSecrets>,
    ) -> Result<ExternalProfile, ProviderError> {
        let failed = |e: reqwest::Error| ProviderError::Failed(e.without_url().to_string());
        let mut form = vec![
            ("client_id", provider.settings.client_id.clone()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
        ];
        if let Some(secret) = &provider.settings.client_secret {
            form.push(("client_secret", secret.clone()));
        }
        if let Some(s) = secrets {
            form.push(("code_verifier", s.pkce_verifier.clone()));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: Option<String>,
            error: Option<String>,
        }
        let answer: TokenAnswer = self
            .http
            .post(token_url)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(failed)?
            .json()
            .await
            .map_err(|e| ProviderError::Failed(format!("unreadable token answer: {e}")))?;
        // GitHub answers 200 with an `error` for a bad code.
        let access = match (answer.access_token, answer.error) {
            (Some(t), None) => t,
            (_, Some(e)) => return Err(ProviderError::Rejected(e)),
            (None, None) => return Err(ProviderError::Failed("no access token".into())),
        };
        #[derive(Deserialize)]
        struct GitHubUser {
            id: i64,
            login: String,
            name: Option<String>,
            avatar_url: Option<String>,
            email: Option<String>,
        }
        #[derive(Deserialize)]
        struct GitHubEmail {
            email: String,
            primary: bool,
            verified: bool,
        }
        let get = |url: &str| {
            self.http
                .get(url)
                .bearer_auth(&access)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28")
                .send()
        };
        let response = get(user_url).await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(ProviderError::Failed(format!("user API answered {}", response.status())));
        }
        let user: GitHubUser =
            response.json().await.map_err(|e| ProviderError::Failed(format!("unreadable user: {e}")))?;
        let emails: Vec<GitHubEmail> = match get(emails_url).await.map_err(failed)? {
            r if r.status().is_success() => r.json().await.unwrap_or_default(),
            _ => Vec::new(),
        };
        // Only a verified primary address counts as verified.
        let (email, verified) = match emails.iter().find(|e| e.primary) {
            Some(primary) => (Some(primary.email.clone()), primary.verified),
            None => (user.email.clone(), false),
        };
        Ok(ExternalProfile {
            provider: provider.id.clone(),
            subject: user.id.to_string(),
            email: email.and_then(|e| EmailAddress::parse(&e).ok()),
            email_verified: verified,
            name: user.name.or(Some(user.login)),
            avatar_url: user.avatar_url,
        })
    }
}

#[async_trait]
impl IdentityProviders for HttpIdentityProviders {
    async fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        secrets: &RedirectSecrets,
    ) -> Result<String, ProviderError> {
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(secrets.pkce_verifier.clone()));
        match &provider.kind {
            ProviderKind::Oidc { issuer } => {
                let client = self.oidc_client(provider, issuer, redirect_uri).await?;
                let (state, nonce) = (secrets.state.clone(), secrets.nonce.clone());
                let mut request = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || CsrfToken::new(state),
                        move || Nonce::new(nonce),
                    )
                    .set_pkce_challenge(challenge);
                for scope in provider.scopes().into_iter().filter(|s| s != "openid") {
                    request = request.add_scope(Scope::new(scope));
                }
                Ok(request.url().0.to_string())
            }
            ProviderKind::GitHub { authorize_url, .. } => {
                let mut url = url::Url::parse(authorize_url)
                    .map_err(|e| ProviderError::Failed(format!("bad authorize_url: {e}")))?;
                url.query_pairs_mut()
                    .append_pair("client_id", &provider.settings.client_id)
                    .append_pair("redirect_uri", redirect_uri)
                    .append_pair("scope", &provider.scopes().join(" "))
                    .append_pair("state", &secrets.state)
                    .append_pair("code_challenge", challenge.as_str())
                    .append_pair("code_challenge_method", "S256");
                Ok(url.to_string())
            }
        }
    }

    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        redirect_uri: &str,
        secrets: Option<&RedirectSecrets>,
    ) -> Result<ExternalProfile, ProviderError> {
        match &provider.kind {
            ProviderKind::Oidc { issuer } => self.oidc_exchange(provider, issuer, code, redirect_uri, secrets).await,
            ProviderKind::GitHub { token_url, user_url, emails_url, .. } => {
                self.github_exchange(provider, token_url, user_url, emails_url, code, redirect_uri, secrets).await
            }
        }
    }
}
