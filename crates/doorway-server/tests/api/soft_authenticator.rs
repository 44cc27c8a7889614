//! A software WebAuthn authenticator for the API tests: P-256 passkeys that are discoverable
//! (it keeps the user handle), with user verification, "none" attestation and a sign counter;
//! the client data names whatever origin the test chooses. It speaks the WebAuthn JSON
//! encodings, as a browser's `PublicKeyCredential.toJSON()` does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct Credential {
    pub id: Vec<u8>,
    key: SigningKey,
    pub user_handle: Vec<u8>,
    rp_id: String,
    pub counter: u32,
}

pub struct SoftAuthenticator {
    pub origin: String,
    pub credentials: Vec<Credential>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().expect("a base64url string")).expect("base64url")
}

/// A CBOR head: major type and argument.
fn head(major: u8, n: usize) -> Vec<u8> {
    match n {
        0..24 => vec![major << 5 | n as u8],
        24..256 => vec![major << 5 | 24, n as u8],
        _ => {
            let mut out = vec![major << 5 | 25];
            out.extend_from_slice(&(n as u16).to_be_bytes());
            out
        }
    }
}

fn cbor_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = head(2, bytes.len());
    out.extend_from_slice(bytes);
    out
}

fn cbor_text(text: &str) -> Vec<u8> {
    let mut out = head(3, text.len());
    out.extend_from_slice(text.as_bytes());
    out
}

/// A small integer (-24..24).
fn cbor_int(n: i8) -> Vec<u8> {
    if n >= 0 { head(0, n as usize) } else { head(1, (-1 - n) as usize) }
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        Self { origin: origin.to_owned(), credentials: Vec::new() }
    }

    fn client_data(&self, kind: &str, challenge: &Value) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create({publicKey})`, as `RegistrationResponseJSON`.
    pub fn create(&mut self, public_key: &Value) -> Value {
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id").to_owned();
        let mut id = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let mut cose = head(5, 5);
        cose.extend(cbor_int(1));
        cose.extend(cbor_int(2)); // kty: EC2
        cose.extend(cbor_int(3));
        cose.extend(cbor_int(-7)); // alg: ES256
        cose.extend(cbor_int(-1));
        cose.extend(cbor_int(1)); // crv: P-256
        cose.extend(cbor_int(-2));
        cose.extend(cbor_bytes(point.x().expect("x")));
        cose.extend(cbor_int(-3));
        cose.extend(cbor_bytes(point.y().expect("y")));

        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(0x01 | 0x04 | 0x40); // user present, user verified, attested credential
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend(cose);

        let mut attestation = head(5, 3);
        attestation.extend(cbor_text("fmt"));
        attestation.extend(cbor_text("none"));
        attestation.extend(cbor_text("attStmt"));
        attestation.extend(head(5, 0));
        attestation.extend(cbor_text("authData"));
        attestation.extend(cbor_bytes(&auth_data));

        let client_data = self.client_data("webauthn.create", &public_key["challenge"]);
        let user_handle = unb64(&public_key["user"]["id"]);
        self.credentials.push(Credential { id: id.clone(), key, user_handle, rp_id, counter: 0 });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": true}},
        })
    }

    /// `navigator.credentials.get({publicKey})` with the newest credential of the rp id, as
    /// `AuthenticationResponseJSON`.
    pub fn get(&mut self, public_key: &Value) -> Value {
        let rp_id = public_key["rpId"].as_str().expect("rpId").to_owned();
        let index = self.credentials.iter().rposition(|c| c.rp_id == rp_id).expect("a credential for this rp id");
        self.assert_with(index, &public_key["challenge"])
    }

    /// An assertion by credential `index` over `challenge`; the counter grows by one.
    pub fn assert_with(&mut self, index: usize, challenge: &Value) -> Value {
        let client_data = self.client_data("webauthn.get", challenge);
        let credential = &mut self.credentials[index];
        credential.counter += 1;
        let mut auth_data = Sha256::digest(credential.rp_id.as_bytes()).to_vec();
        auth_data.push(0x01 | 0x04);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: DerSignature = credential.key.sign(&signed);
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_bytes()),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
