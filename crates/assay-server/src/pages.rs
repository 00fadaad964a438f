//! Seed 001's browser pages (`/save`, `/view`) and the rendered API reference (`/docs`).
//! maud escapes every interpolated string, so user text can never become markup.

use std::str::FromStr;

use assay_core::rfc3339;
use assay_jobs::Template;
use assay_store::StoredMessage;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::PageCaller;
use crate::extract::Query;
use crate::tasks::submit;
use crate::{ApiError, AppState};

fn page(title: &str, template: Template, body: Markup) -> Markup {
    let style = match template {
        Template::Default => "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;color:#222}\
             li{padding:.4rem 0;border-bottom:1px solid #eee}.meta{color:#777;font-size:.85em}",
        Template::Space => "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
             background:#0b1026;color:#e6e9ff}h1{color:#9fb4ff}a{color:#ffd479}\
             li{padding:.4rem 0;border-bottom:1px solid #243066}.meta{color:#8a93c7;font-size:.85em}",
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · assay" }
                style { (style) }
            }
            body class={ "template-" (template.as_str()) } { (body) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SaveQuery {
    data: Option<String>,
    template: Option<String>,
    api_key: Option<String>,
}

fn template_of(raw: Option<&str>) -> Result<Template, ApiError> {
    Ok(Template::from_str(raw.unwrap_or_default())?)
}

/// `GET /save?data=Hello&template=space` — queues a message and says so.
pub async fn save(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<SaveQuery>,
) -> Result<Response, ApiError> {
    let template = template_of(q.template.as_deref())?;
    let data = q.data.unwrap_or_default();
    let response = submit(
        &state,
        &caller,
        "message",
        json!({ "data": data, "template": template }),
        0,
    )
    .await?;
    let view = match &q.api_key {
        Some(key) => format!("/view?template={}&api_key={key}", template.as_str()),
        None => format!("/view?template={}", template.as_str()),
    };
    let markup = page(
        "Queued",
        template,
        html! {
            h1 { "Message queued" }
            p { "Your message " q { (data) } " was queued; a worker will store it shortly." }
            p { a href=(view) { "View stored messages" } }
        },
    );
    Ok((response.status(), Html(markup.into_string())).into_response())
}

/// `GET /view` — stored messages, newest first, in the chosen template.
pub async fn view(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<SaveQuery>,
) -> Result<Html<String>, ApiError> {
    let template = template_of(q.template.as_deref())?;
    let messages: Vec<StoredMessage> = state.store.list_messages(&caller.scope(), 200).await?;
    let markup = page(
        "Messages",
        template,
        html! {
            h1 { "Stored messages" }
            @if messages.is_empty() {
                p { "No messages yet." }
            } @else {
                ul {
                    @for m in &messages {
                        li class="message" {
                            span class="data" { (m.data) }
                            " "
                            span class="meta" { (rfc3339(m.created_at)) " · " (m.template) }
                        }
                    }
                }
            }
        },
    );
    Ok(Html(markup.into_string()))
}

/// `GET /docs` — every route of the OpenAPI document, rendered without scripts.
pub async fn docs() -> Response {
    let spec: Value = match serde_json::from_str(crate::OPENAPI) {
        Ok(spec) => spec,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("openapi.json is invalid: {e}"),
            )
                .into_response()
        }
    };
    let empty = serde_json::Map::new();
    let paths = spec["paths"].as_object().unwrap_or(&empty);
    let markup = page(
        "API reference",
        Template::Default,
        html! {
            h1 { (spec["info"]["title"].as_str().unwrap_or("assay")) " API" }
            p { (spec["info"]["description"].as_str().unwrap_or_default()) }
            p { "Machine-readable: " a href="/openapi.json" { "/openapi.json" } }
            @for (path, ops) in paths {
                @for (method, op) in ops.as_object().unwrap_or(&empty) {
                    section class="route" {
                        h2 { code { (method.to_uppercase()) " " (path) } }
                        p { (op["summary"].as_str().unwrap_or_default()) }
                        @if let Some(d) = op["description"].as_str() { p { (d) } }
                        @if let Some(params) = op["parameters"].as_array() {
                            ul { @for p in params {
                                li { code { (p["name"].as_str().unwrap_or_default()) } " (" (p["in"].as_str().unwrap_or_default()) ") " (p["description"].as_str().unwrap_or_default()) }
                            } }
                        }
                        @if let Some(responses) = op["responses"].as_object() {
                            ul { @for (code, r) in responses {
                                li { strong { (code) } " " (r["description"].as_str().unwrap_or_default()) }
                            } }
                        }
                    }
                }
            }
        },
    );
    Html(markup.into_string()).into_response()
}
