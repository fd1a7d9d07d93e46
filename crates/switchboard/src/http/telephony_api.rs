//! The seed telephony module's routes (`/api/telephony/*`), in its `{success, data}`
//! shapes: texting for now.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{ApiJson, Scoped, page};
use crate::error::{AppError, SeedError};
use crate::state::AppState;

/// `POST /api/telephony/sms` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SendSms {
    phone_number: String,
    message: String,
}

/// `POST /api/telephony/sms`: texts a customer from the tenant's number, with its
/// credentials, through the job queue. Answers at once with the text stored QUEUED;
/// its status moves as Twilio reports it.
pub(crate) async fn send_sms(
    State(state): State<AppState>,
    scoped: Scoped<page::Messages>,
    body: Result<ApiJson<SendSms>, AppError>,
) -> Result<Json<Value>, SeedError> {
    let tenant = scoped.tenant()?.clone();
    let ApiJson(body) = body?;
    let to = crate::numbers::E164::parse(&body.phone_number)
        .ok_or_else(|| AppError::field("phoneNumber", "is not a valid phone number"))?;
    let numbers = crate::numbers::list_for_tenant(&state.db, &tenant).await?;
    let from = numbers
        .iter()
        .filter(|n| n.status == "active")
        .max_by_key(|n| n.is_primary)
        .ok_or_else(|| {
            AppError::Conflict("this account has no active phone number to text from".into())
        })?;
    let settings = crate::telephony::view(&state.db, &tenant).await?;
    let segments = crate::messaging::check_body(&body.message, settings.sms_max_segments)?;
    let message = crate::messaging::queue(
        &state.db,
        &crate::messaging::Outgoing {
            tenant_id: &tenant,
            from: &from.phone_number,
            to: to.as_str(),
            body: &body.message,
            sent_by: Some(&scoped.principal.user.id),
            max_segments: settings.sms_max_segments,
        },
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "data": {
            "id": message.id,
            "status": message.status.to_uppercase(),
            "to": message.to,
            "from": message.from,
            "message": message.body,
            "segments": segments.segments,
            "encoding": segments.encoding,
            "createdAt": crate::db::rfc3339(message.created_at),
        }
    })))
}
