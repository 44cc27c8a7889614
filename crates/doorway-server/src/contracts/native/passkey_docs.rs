//! OpenAPI shapes of the passkey routes: the WebAuthn spec's JSON encodings
//! (`PublicKeyCredentialCreationOptionsJSON`, `PublicKeyCredentialRequestOptionsJSON`,
//! `RegistrationResponseJSON`, `AuthenticationResponseJSON`) as Doorway sends and reads them.
//! Binary values are base64url strings without padding.

#![allow(dead_code)]

use utoipa::ToSchema;

/// Start a passkey-only sign-up.
#[derive(ToSchema)]
pub struct PasskeySignUpOptionsRequest {
    /// The account's address (mailed a verification code after sign-up); must not have an
    /// account yet.
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// Optional display name, 2–100 characters.
    #[schema(min_length = 2, max_length = 100, example = "Ada Lovelace")]
    name: Option<String>,
}

/// Optionally names the passkey being added (1–64 characters; `Passkey` when absent).
#[derive(ToSchema)]
pub struct AddPasskeyOptionsRequest {
    #[schema(min_length = 1, max_length = 64, example = "Laptop")]
    name: Option<String>,
}

/// No fields.
#[derive(ToSchema)]
pub struct EmptyRequest {}

#[derive(ToSchema)]
pub struct RelyingPartyJson {
    /// The project's name.
    name: String,
    /// The relying party id (`passkeys.rp_id`, by default the public URL's host).
    id: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct UserEntityJson {
    /// The user handle, base64url.
    id: String,
    name: String,
    display_name: String,
}

#[derive(ToSchema)]
pub struct CredentialParameterJson {
    #[schema(rename = "type", example = "public-key")]
    kind: String,
    /// A COSE algorithm (-7 ES256, -257 RS256).
    #[schema(example = -7)]
    alg: i64,
}

#[derive(ToSchema)]
pub struct CredentialDescriptorJson {
    #[schema(rename = "type", example = "public-key")]
    kind: String,
    /// The credential id, base64url.
    id: String,
    transports: Option<Vec<String>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AuthenticatorSelectionJson {
    authenticator_attachment: Option<String>,
    /// `required`: a discoverable credential (passkey).
    #[schema(example = "required")]
    resident_key: String,
    require_resident_key: bool,
    #[schema(example = "required")]
    user_verification: String,
}

/// `PublicKeyCredentialCreationOptionsJSON`: pass to
/// `PublicKeyCredential.parseCreationOptionsFromJSON`, then `navigator.credentials.create`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PublicKeyCredentialCreationOptionsJson {
    rp: RelyingPartyJson,
    user: UserEntityJson,
    /// base64url
    challenge: String,
    pub_key_cred_params: Vec<CredentialParameterJson>,
    /// Milliseconds.
    timeout: u32,
    /// The signed-in user's passkeys, when adding one.
    exclude_credentials: Option<Vec<CredentialDescriptorJson>>,
    authenticator_selection: AuthenticatorSelectionJson,
    #[schema(example = "none")]
    attestation: String,
    /// Requested extensions (`credProps`, `credentialProtectionPolicy`, …).
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `PublicKeyCredentialRequestOptionsJSON`: pass to
/// `PublicKeyCredential.parseRequestOptionsFromJSON`, then `navigator.credentials.get`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PublicKeyCredentialRequestOptionsJson {
    /// base64url
    challenge: String,
    /// Milliseconds.
    timeout: u32,
    rp_id: String,
    /// Always empty: the authenticator offers its discoverable credentials.
    allow_credentials: Vec<CredentialDescriptorJson>,
    #[schema(example = "required")]
    user_verification: String,
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CreationOptionsData {
    public_key: PublicKeyCredentialCreationOptionsJson,
}

#[derive(ToSchema)]
pub struct PasskeyCreationOptionsResponse {
    success: bool,
    data: CreationOptionsData,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RequestOptionsData {
    public_key: PublicKeyCredentialRequestOptionsJson,
}

#[derive(ToSchema)]
pub struct PasskeyRequestOptionsResponse {
    success: bool,
    data: RequestOptionsData,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    /// base64url
    #[schema(rename = "clientDataJSON")]
    client_data_json: String,
    /// base64url
    attestation_object: String,
    transports: Option<Vec<String>>,
}

/// `RegistrationResponseJSON`: what `PublicKeyCredential.toJSON()` gives after `create`.
/// Other members browsers add (`authenticatorData`, `publicKey`…) are ignored.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RegistrationResponseJson {
    /// The credential id, base64url.
    id: String,
    /// The credential id, base64url.
    raw_id: String,
    response: AttestationResponseJson,
    #[schema(rename = "type", example = "public-key")]
    kind: String,
    authenticator_attachment: Option<String>,
    client_extension_results: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    /// base64url
    #[schema(rename = "clientDataJSON")]
    client_data_json: String,
    /// base64url
    authenticator_data: String,
    /// base64url
    signature: String,
    /// The user handle the authenticator stored with the passkey, base64url.
    user_handle: Option<String>,
}

/// `AuthenticationResponseJSON`: what `PublicKeyCredential.toJSON()` gives after `get`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AuthenticationResponseJson {
    /// The credential id, base64url.
    id: String,
    /// The credential id, base64url.
    raw_id: String,
    response: AssertionResponseJson,
    #[schema(rename = "type", example = "public-key")]
    kind: String,
    authenticator_attachment: Option<String>,
    client_extension_results: Option<serde_json::Map<String, serde_json::Value>>,
}
