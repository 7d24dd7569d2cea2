//! The login guard around every password check (a login, or confirming one's current password
//! before changing it): [`check_credentials`] is refused with 429 `too_many_attempts` and
//! `Retry-After` while the user name or the client address is locked out ([`super::lockout`]),
//! and a name that belongs to no user is checked against a stand-in hash, so it costs the same
//! work and gets the same answer as a wrong password.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use super::lockout::LockedOut;
use super::password::{hash_password, verify_password};

/// A hash of a random password, checked against when a login names no user.
async fn unknown_user_hash() -> Result<&'static str, ApiError> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_try_init(|| async { hash_password(new_token()?).await })
        .await
        .map(String::as_str)
}

/// A random token: 32 bytes from the system's generator, in hex.
pub(super) fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no randomness",
        )
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// How a password check under the login guard ended.
pub(super) enum Checked {
    /// The password is right.
    Right,
    /// The user name or password is wrong (counted as a failure).
    Wrong,
    /// Not checked: the user name or address is locked out; the 429 to answer.
    LockedOut(HttpResponse),
}

/// The 429 of a locked-out login, with `Retry-After` in seconds. The same for a user name as for
/// an address, so it does not tell which is locked.
fn too_many_attempts(locked: LockedOut) -> HttpResponse {
    let seconds = locked.retry_after_secs();
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, seconds.to_string()))
        .json(ErrorBody {
            error: "too_many_attempts",
            message: format!("too many failed logins; try again in {seconds} s"),
            field: None,
        })
}

/// Checks `password` for the user name `username`, whose stored hash is `hash` (`None`: no
/// such user), under the login guard, from `request`'s peer address.
pub(super) async fn check_credentials(
    state: &ApiState,
    request: &HttpRequest,
    username: &str,
    password: String,
    hash: Option<String>,
) -> Result<Checked, ApiError> {
    let address = request.peer_addr().map(|a| a.ip());
    let attempt = match state.login.attempt(username, address) {
        Ok(attempt) => attempt,
        Err(locked) => return Ok(Checked::LockedOut(too_many_attempts(locked))),
    };
    let right = match hash {
        Some(hash) => verify_password(password, hash).await?,
        None => {
            // As much work as a wrong password, so the answer's timing does not tell which
            // user names exist.
            verify_password(password, unknown_user_hash().await?.to_owned()).await?;
            false
        }
    };
    if right {
        attempt.succeeded();
        Ok(Checked::Right)
    } else {
        attempt.failed();
        Ok(Checked::Wrong)
    }
}
