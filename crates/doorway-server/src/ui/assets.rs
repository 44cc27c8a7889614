//! The pages' static files, compiled into the binary (no CDN, works offline). Each is served
//! under a name carrying a hash of its content (`ui.3f9c0a1b2c.css`), so it may be cached for
//! a year: a new build changes the name, never the content behind one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One file: its plain name (`ui.css`), its media type and its bytes.
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every asset the pages may load. A page script is added here and named in
/// `Chrome::scripts` (see `ui/mod.rs`).
pub(crate) const ASSETS: &[Asset] = &[
    Asset {
        name: "ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../templates/ui/assets/ui.css"),
    },
    Asset {
        name: "pages.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../templates/ui/assets/pages.js"),
    },
    // The ALTCHA widget (npm `altcha`, MIT, vendored by scripts/vendor-altcha.sh): its
    // CSP-friendly build, stylesheet and proof-of-work worker, and the script that mounts it.
    Asset {
        name: "altcha.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/altcha/altcha.min.js"),
    },
    Asset {
        name: "altcha.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/altcha/altcha.css"),
    },
    Asset {
        name: "altcha-worker.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/altcha/sha-worker.js"),
    },
    Asset {
        name: "altcha-init.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../templates/ui/assets/altcha-init.js"),
    },
    Asset {
        name: "passkey.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../templates/ui/assets/passkey.js"),
    },
];

/// `(served name, asset)`: the plain name with the first 10 hex digits of its SHA-256 before
/// the extension.
static SERVED: LazyLock<Vec<(String, &'static Asset)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.bytes);
            let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
            let served = match asset.name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{}.{hash}", asset.name),
            };
            (served, asset)
        })
        .collect()
});

/// The URL of asset `name` under the pages of the prefix `base` (`/acme/ui`); `None` for a
/// name that is not an asset.
pub(crate) fn url(base: &str, name: &str) -> Option<String> {
    SERVED.iter().find(|(_, a)| a.name == name).map(|(served, _)| format!("{base}/assets/{served}"))
}

/// A static file of the pages (stylesheet, page scripts), by its hashed name.
#[utoipa::path(get, path = "/ui/assets/{file}", operation_id = "pagesAsset", tag = "pages",
    params(("file" = String, Path, description = "The asset's hashed name, as the pages link it (`ui.<hash>.css`)")),
    responses(
        (status = 200, description = "The file; `Cache-Control: public, max-age=31536000, immutable`", content(
            (String = "text/css"), (String = "text/javascript"))),
        (status = 404, content_type = "text/html", body = String, description = "No asset of that name"),
    ))]
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, asset)) = SERVED.iter().find(|(served, _)| *served == file) else {
        return super::render::refusal(StatusCode::NOT_FOUND, super::i18n::Locale::En.messages().not_found);
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_names_carry_a_content_hash() {
        let css = url("/acme/ui", "ui.css").unwrap();
        assert!(css.starts_with("/acme/ui/assets/ui.") && css.ends_with(".css"), "{css}");
        assert_eq!(css.len(), "/acme/ui/assets/ui..css".len() + 10);
        assert!(url("/ui", "nope.js").is_none());
    }
}
