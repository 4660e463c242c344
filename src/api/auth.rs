//! Tokens: `POST /token` issues an HS256 JWT; protected routes read it from the
//! `x-access-tokens` header.
//!
//! The signing secret is `[API] SECRET_KEY` when set. Otherwise a random one is
//! generated at first start and kept in `<data>/secret.key` (mode 0600), so no
//! installation ever signs with a secret that shipped in a file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use jwt_simple::prelude::*;

use super::{ApiError, App, Ctx, Reply};
use crate::http::Incoming;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// No token needed.
    Open,
    /// An admin token is required.
    Token,
    /// An admin token, or a provisioning token for the node named by the
    /// route's first parameter.
    Node,
    /// An admin token or any node's provisioning token.
    Install,
}

pub struct Keys {
    key: HS256Key,
    expiry: Duration,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Set on provisioning tokens: the node the token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Keys {
    pub fn load(secret: Option<&str>, data_dir: &Path, expiry: Duration) -> std::io::Result<Keys> {
        let secret = match secret {
            Some(s) => s.as_bytes().to_vec(),
            None => load_or_create_secret(&data_dir.join("secret.key"))?,
        };
        Ok(Keys {
            key: HS256Key::from_bytes(&secret),
            expiry,
        })
    }

    pub fn issue(&self, claims: Claims, valid_for: Duration) -> Result<String, ApiError> {
        let claims = jwt_simple::claims::Claims::with_custom_claims(claims, valid_for.into());
        self.key
            .authenticate(claims)
            .map_err(|e| ApiError::Internal(format!("token signing: {e}")))
    }

    fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(0).into()),
            ..Default::default()
        };
        self.key
            .verify_token::<Claims>(token, Some(options))
            .map(|c| c.custom)
            .map_err(|_| ApiError::Unauthorized("token is invalid or expired".into()))
    }
}

fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is shorter than 32 bytes",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = crate::util::random_hex(32)?.into_bytes();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&secret)?;
    file.sync_all()?;
    Ok(secret)
}

/// Checks the route's auth rule; returns the claims when a valid token was sent.
pub fn check(
    app: &App,
    req: &Incoming,
    rule: Auth,
    params: &[String],
) -> Result<Option<Claims>, ApiError> {
    let header = req
        .header("x-access-tokens")
        .map(|t| t.trim().trim_matches('"'));
    match (rule, header) {
        (Auth::Open, None) => Ok(None),
        // An open route ignores a bad token rather than failing on it.
        (Auth::Open, Some(t)) => Ok(app.auth.verify(t).ok()),
        (Auth::Token | Auth::Node | Auth::Install, None | Some("")) => Err(ApiError::Unauthorized(
            "a valid token is missing (header x-access-tokens)".into(),
        )),
        (Auth::Token, Some(t)) => {
            let claims = app.auth.verify(t)?;
            if claims.scope.as_deref() == Some("provision") {
                // Not a valid token here: the spec's 401.
                return Err(ApiError::Unauthorized(
                    "a node's token is not valid for this endpoint".into(),
                ));
            }
            Ok(Some(claims))
        }
        (Auth::Install, Some(t)) => app.auth.verify(t).map(Some),
        (Auth::Node, Some(t)) => {
            let claims = app.auth.verify(t)?;
            if claims.scope.as_deref() == Some("provision")
                && claims.node.as_deref() != params.first().map(String::as_str)
            {
                return Err(ApiError::Unauthorized(
                    "this node token is for another node".into(),
                ));
            }
            Ok(Some(claims))
        }
    }
}

/// A provisioning token: lets an installing node report its state and update
/// its own record, nothing else.
pub fn provision_token(app: &App, node: &str) -> Result<String, ApiError> {
    let claims = Claims {
        id: None,
        node: Some(node.to_string()),
        scope: Some("provision".into()),
    };
    app.auth.issue(claims, PROVISION_TOKEN_LIFETIME)
}

/// The admin token a controller sends its peers (they share the secret).
pub fn peer_token(app: &App) -> Result<String, ApiError> {
    let claims = Claims {
        id: Some(0),
        node: None,
        scope: Some("controller".into()),
    };
    app.auth.issue(claims, PROVISION_TOKEN_LIFETIME)
}

const PROVISION_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: Option<String>,
    password: Option<String>,
}

/// `POST /token`
pub fn token(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let body = ctx
        .body
        .clone()
        .ok_or_else(|| ApiError::bad("request body is empty; expected username and password"))?;
    let login: Login = serde_json::from_value(body)
        .map_err(|e| ApiError::bad(format!("invalid login request: {e}")))?;
    let username = login
        .username
        .ok_or_else(|| ApiError::bad("username is required"))?;
    let password = login
        .password
        .ok_or_else(|| ApiError::bad("password is required"))?;
    let cfg = &ctx.app.config;
    // Both comparisons always run, so timing does not tell which one failed.
    let user_ok = constant_time_eq(username.as_bytes(), cfg.api_username.as_bytes());
    let pass_ok = constant_time_eq(password.as_bytes(), cfg.api_password.as_bytes());
    if !(user_ok & pass_ok) {
        return Err(ApiError::Unauthorized(
            "incorrect username or password".into(),
        ));
    }
    let token = ctx.app.auth.issue(
        Claims {
            id: Some(0),
            node: None,
            scope: None,
        },
        ctx.app.auth.expiry,
    )?;
    Ok(Reply::Json(201, serde_json::json!({ "token": token })))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}
