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
    let (message, segments) = crate::messaging::send_for_tenant(
        &state.db,
        &tenant,
        &body.phone_number,
        &body.message,
        Some(&scoped.principal.user.id),
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
