//! A client for a KServe model server speaking the Open Inference Protocol (v2), used by the
//! `image` kind in `real` mode.
//!
//! The contract (also in docs/analyzers/circles.md): assay sends the original image file as
//! one `BYTES` input named `image` (base64, so any format the model accepts), with the image's
//! width and height as parameters; the model answers an output `boxes` of shape `[N, 4]`
//! (`x_min, y_min, x_max, y_max` in pixels, FP32) and optionally `scores` of shape `[N]`.
//! Each box becomes a circle: centre = box centre, radius = half the mean of its sides.

use std::time::Duration;

use assay_circles::{BBox, CircleObject, Point};
use base64::Engine;
use serde_json::{json, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    /// Unreachable, timed out, or a 5xx: another attempt may succeed.
    #[error("model_server_unavailable: {0}")]
    Unavailable(String),
    /// A 4xx or an answer that does not follow the contract: retrying will not help.
    #[error("model_server_error: {0}")]
    Rejected(String),
}

#[derive(Debug, Clone)]
pub struct ModelServer {
    base: String,
    model: String,
    client: reqwest::Client,
}

const TIMEOUT: Duration = Duration::from_secs(60);

impl ModelServer {
    pub fn new(base_url: &str, model: &str) -> Result<Self, ModelError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| ModelError::Rejected(format!("cannot build an HTTP client: {e}")))?;
        Ok(ModelServer {
            base: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            client,
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/models/{}/{tail}", self.base, self.model)
    }

    /// `GET v2/models/{name}/ready`.
    pub async fn ready(&self) -> Result<(), ModelError> {
        let r = self
            .client
            .get(self.url("ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| ModelError::Unavailable(format!("{} is unreachable: {e}", self.base)))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(ModelError::Unavailable(format!(
                "model {} is not ready ({})",
                self.model,
                r.status()
            )))
        }
    }

    /// `POST v2/models/{name}/infer`, mapped to circles in a `width` x `height` image.
    pub async fn infer(
        &self,
        image: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Vec<CircleObject>, ModelError> {
        let body = json!({
            "inputs": [{
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64::engine::general_purpose::STANDARD.encode(image)],
                "parameters": { "content_type": "base64" }
            }],
            "parameters": { "width": width, "height": height }
        });
        let r = self
            .client
            .post(self.url("infer"))
            .json(&body)
            .send()
            .await
            .map_err(|e| ModelError::Unavailable(format!("{} is unreachable: {e}", self.base)))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| ModelError::Unavailable(e.to_string()))?;
        if status.is_server_error() {
            return Err(ModelError::Unavailable(format!(
                "the model server answered {status}: {}",
                clip(&text)
            )));
        }
        if !status.is_success() {
            return Err(ModelError::Rejected(format!(
                "the model server answered {status}: {}",
                clip(&text)
            )));
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            ModelError::Rejected(format!("the model server's answer is not JSON: {e}"))
        })?;
        circles_from(&answer, width, height)
    }
}

fn clip(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

fn output<'a>(answer: &'a Value, name: &str) -> Option<&'a Value> {
    answer["outputs"]
        .as_array()?
        .iter()
        .find(|o| o["name"] == name)
}

fn numbers(output: &Value, what: &str) -> Result<Vec<f32>, ModelError> {
    output["data"]
        .as_array()
        .ok_or_else(|| ModelError::Rejected(format!("output {what} has no data array")))?
        .iter()
        .map(|v| {
            v.as_f64()
                .map(|f| f as f32)
                .filter(|f| f.is_finite())
                .ok_or_else(|| {
                    ModelError::Rejected(format!("output {what} holds a non-number: {v}"))
                })
        })
        .collect()
}

/// Maps the `boxes` (and `scores`) outputs to circles, best score first.
fn circles_from(answer: &Value, width: u32, height: u32) -> Result<Vec<CircleObject>, ModelError> {
    let boxes = output(answer, "boxes")
        .ok_or_else(|| ModelError::Rejected("the answer has no `boxes` output".into()))?;
    let flat = numbers(boxes, "boxes")?;
    if flat.len() % 4 != 0 {
        return Err(ModelError::Rejected(format!(
            "`boxes` has {} numbers, not a multiple of 4",
            flat.len()
        )));
    }
    let scores = match output(answer, "scores") {
        Some(s) => numbers(s, "scores")?,
        None => vec![1.0; flat.len() / 4],
    };
    if scores.len() != flat.len() / 4 {
        return Err(ModelError::Rejected(format!(
            "{} boxes but {} scores",
            flat.len() / 4,
            scores.len()
        )));
    }
    let mut circles: Vec<CircleObject> = flat
        .chunks_exact(4)
        .zip(scores)
        .filter(|(b, _)| b[2] > b[0] && b[3] > b[1])
        .map(|(b, score)| {
            let clamp = |v: f32, hi: u32| v.clamp(0.0, hi as f32) as u32;
            let (x0, y0, x1, y1) = (
                clamp(b[0], width),
                clamp(b[1], height),
                clamp(b[2], width),
                clamp(b[3], height),
            );
            CircleObject {
                id: 0,
                centre: Point {
                    x: (b[0] + b[2]) / 2.0,
                    y: (b[1] + b[3]) / 2.0,
                },
                radius: ((b[2] - b[0]) + (b[3] - b[1])) / 4.0,
                bbox: BBox {
                    x: x0,
                    y: y0,
                    width: x1 - x0,
                    height: y1 - y0,
                },
                score: score.clamp(0.0, 1.0),
            }
        })
        .collect();
    circles.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (i, c) in circles.iter_mut().enumerate() {
        c.id = i as u32 + 1;
    }
    Ok(circles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_become_circles_best_first() {
        let answer = json!({"outputs": [
            {"name": "boxes", "shape": [2, 4], "datatype": "FP32", "data": [10, 10, 30, 30, 0, 0, 5, 5]},
            {"name": "scores", "shape": [2], "datatype": "FP32", "data": [0.5, 0.9]}
        ]});
        let c = circles_from(&answer, 100, 100).unwrap();
        assert_eq!((c[0].id, c[0].score, c[0].radius), (1, 0.9, 2.5));
        assert_eq!(
            (c[1].centre.x, c[1].centre.y, c[1].radius),
            (20.0, 20.0, 10.0)
        );
        assert_eq!((c[1].bbox.x, c[1].bbox.width), (10, 20));
        assert!(circles_from(&json!({"outputs": []}), 10, 10).is_err());
        let odd = json!({"outputs": [{"name": "boxes", "data": [1, 2, 3]}]});
        assert!(matches!(
            circles_from(&odd, 10, 10),
            Err(ModelError::Rejected(_))
        ));
    }
}
