//! Prometheus metrics: HTTP traffic (recorded by a middleware on every route), job attempts
//! (fed by the worker through [`JobObserver`]) and queue depth (read from the store at scrape).

use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_worker::{AttemptEnd, JobObserver};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    path: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    jobs: Family<JobLabels, Counter>,
    job_duration: HistogramFamily<KindLabels>,
    queue_depth: Family<KindLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

fn job_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let jobs = Family::<JobLabels, Counter>::default();
        let job_duration: HistogramFamily<KindLabels> = Family::new_with_constructor(job_histogram);
        let queue_depth = Family::<KindLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            http_duration.clone(),
        );
        registry.register(
            "assay_jobs",
            "Finished job attempts by kind and outcome",
            jobs.clone(),
        );
        registry.register(
            "assay_job_duration_seconds",
            "Job attempt run time by kind",
            job_duration.clone(),
        );
        registry.register(
            "assay_queue_depth",
            "Queued jobs by kind",
            queue_depth.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            jobs,
            job_duration,
            queue_depth,
        }
    }
}

impl Metrics {
    pub fn set_queue_depth(&self, kind: &str, depth: i64) {
        self.queue_depth
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .set(depth);
    }

    /// The OpenMetrics text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    fn observe_request(&self, method: &str, path: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        let route = RouteLabels {
            method: labels.method,
            path: labels.path,
        };
        self.http_duration
            .get_or_create(&route)
            .observe(elapsed.as_secs_f64());
    }
}

impl JobObserver for Metrics {
    fn attempt_finished(&self, kind: &str, end: AttemptEnd, elapsed: Duration) {
        self.jobs
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                status: end.as_str().to_owned(),
            })
            .inc();
        self.job_duration
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Records every request under its route template, never the raw path (ids would explode
/// the label set).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only standard methods become labels: anyone can send `FOO /healthz`.
    let method = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    metrics.observe_request(method, &path, response.status().as_u16(), started.elapsed());
    response
}
