//! People's console accounts, admin role only: `GET/POST /api/v1/users`,
//! `POST /api/v1/users/{name}/password`, `.../disable` and `.../enable`.
//! Passwords travel in the body once and are kept only as argon2id
//! hashes; no answer ever carries one.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking};
use crate::helpers::password::{self, PasswordError};
use crate::store::{Role, UserChange, UserRecord};

/// The account routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(change))
}

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Login name.
    pub name: String,
    /// viewer, helpdesk or admin.
    pub role: Role,
    /// Whether it may log in.
    pub disabled: bool,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its password was last set.
    pub password_set_at: Timestamp,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            name: u.name,
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
            password_set_at: u.password_set_at,
        }
    }
}

/// The body of `POST /api/v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// viewer, helpdesk or admin.
    pub role: Role,
    /// The password, in clear, once.
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /api/v1/users/{name}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// The new password, in clear, once.
    #[schema(format = Password)]
    password: String,
}

/// Whether `name` may name an account: 1 to 64 of letters, digits and
/// `. _ @ -`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_alphanumeric() || ".-_@".contains(c);
    if name.is_empty() || name.chars().count() > 64 {
        return Err("an account name has 1 to 64 characters".into());
    }
    if !name.chars().all(ok_char) || !name.starts_with(char::is_alphanumeric) {
        return Err(format!(
            "`{name}` is not an account name: use letters, digits and . _ @ -, starting with a letter or digit"
        ));
    }
    Ok(())
}

async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password task: {e}")))?
        .map_err(|e| match e {
            PasswordError::TooShort => ApiError::bad("password", e.to_string()),
            PasswordError::Hash(m) => ApiError::Internal(m),
        })
}

/// The console accounts, without their password hashes.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "list_users",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every account.", body = Vec<UserView>),
    ),
)]
async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let users = blocking(&state, |s| s.users()).await?;
    let views: Vec<UserView> = users.into_iter().map(UserView::from).collect();
    Ok(Json(views).into_response())
}

/// Creates a console account for a person.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "add_user",
    request_body = NewUser,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The account.", body = UserView),
        (status = 400, description = "The body does not parse, the name is not an account name, the password is too short, or the role is `telephony`.", body = ErrorBody),
        (status = 409, description = "An account has that name already.", body = ErrorBody),
    ),
)]
async fn add(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewUser>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(new) = body?;
    let name = new.name.trim().to_owned();
    check_name(&name).map_err(|e| ApiError::bad("name", e))?;
    if new.role == Role::Telephony {
        return Err(ApiError::bad(
            "role",
            "an account is for a person: viewer, helpdesk or admin (telephony is for API tokens)",
        ));
    }
    let password_hash = hash(new.password).await?;
    let now = Timestamp::now();
    let record = UserRecord {
        name: name.clone(),
        role: new.role,
        password_hash,
        disabled: false,
        created_at: now,
        password_set_at: now,
    };
    let stored = record.clone();
    blocking(&state, move |s| s.add_user(&stored))
        .await
        .map_err(|e| match e {
            ApiError::Store(crate::store::StoreError::Exists { .. }) => {
                ApiError::Conflict(format!("there is already an account named {name}"))
            }
            other => other,
        })?;
    tracing::info!(account = %record.name, role = super::role_name(record.role), by = %caller.0.id, "console account created");
    Ok((StatusCode::CREATED, Json(UserView::from(record))).into_response())
}

/// Changes an account: `password` sets a new password (the body gives
/// it), `disable` and `enable` say whether it may log in.
#[utoipa::path(
    post,
    path = "/api/v1/users/{name}/{action}",
    tag = "users",
    operation_id = "change_user",
    params(
        ("name" = String, Path, description = "The account's login name."),
        ("action" = String, Path, pattern = "^(password|disable|enable)$", description = "What to change."),
    ),
    request_body(content = Option<NewPassword>, description = "For `password` only."),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The account now.", body = UserView),
        (status = 400, description = "`password`: the body does not parse, or the password is too short.", body = ErrorBody),
        (status = 404, description = "No account has that name, or no action has that name.", body = ErrorBody),
    ),
)]
async fn change(
    State(state): State<ApiState>,
    caller: Caller,
    Path((name, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let change = match action.as_str() {
        "disable" => UserChange::Disabled(true),
        "enable" => UserChange::Disabled(false),
        "password" => {
            let NewPassword { password } = serde_json::from_slice(&body).map_err(|e| {
                ApiError::BadRequest(format!("the body must be {{\"password\": \"…\"}}: {e}"))
            })?;
            UserChange::Password(hash(password).await?)
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no account action `{other}`; use password, disable or enable"
            )));
        }
    };
    let who = name.clone();
    let changed = blocking(&state, move |s| {
        s.change_user(&who, change, Timestamp::now())
    })
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no account named {name}")))?;
    tracing::info!(account = %name, action = %action, by = %caller.0.id, "console account changed");
    Ok(Json(UserView::from(changed)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_checked() {
        assert!(check_name("ana").is_ok());
        assert!(check_name("ana.garcia@corp").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("-ana").is_err());
        assert!(check_name("ana garcia").is_err());
        assert!(check_name("<script>").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
    }
}
