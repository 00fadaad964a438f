//! A load client for assay's job pipeline, used by `bench/queue.sh`.
//!
//! `cargo run --release --example queue_load -- --url http://127.0.0.1:8080 --key KEY
//! --jobs 5000 --concurrency 32` submits `jobs` add jobs (x = y = i) with at most
//! `concurrency` requests in flight, then polls each until it finishes and checks its value
//! is 2 * i. It prints one line, `assay: jobs=N enqueue_per_s=.. end_to_end_per_s=..
//! seconds=.. polls=..`, and exits non-zero on any failed job or wrong result.
//!
//! With `--latency N` it then submits N more jobs one at a time on the idle queue, and for
//! each takes the time from sending the POST to the job's `started_at` (same machine, same
//! clock; `started_at` has millisecond resolution), printing `latency: n=N p50_ms=..
//! p99_ms=.. max_ms=..`. The job usually starts before the POST's answer arrives, so this
//! includes the whole submission: HTTP, the committed insert, the wake-up and the claim.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long one job may take to finish before the run is declared failed.
const JOB_DEADLINE: Duration = Duration::from_secs(300);
/// The pause before polling a job that was not finished yet.
const REPOLL: Duration = Duration::from_millis(20);

struct Args {
    url: String,
    key: String,
    jobs: u64,
    concurrency: usize,
    latency: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        key: String::new(),
        jobs: 5000,
        concurrency: 32,
        latency: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--url" => args.url = value.trim_end_matches('/').to_owned(),
            "--key" => args.key = value,
            "--jobs" => args.jobs = value.parse().map_err(bad)?,
            "--concurrency" => args.concurrency = value.parse().map_err(bad)?,
            "--latency" => args.latency = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.key.is_empty() {
        return Err("--key is required".into());
    }
    if args.jobs == 0 || args.concurrency == 0 {
        return Err("--jobs and --concurrency must be at least 1".into());
    }
    Ok(args)
}

async fn submit(client: &reqwest::Client, args: &Args, i: u64) -> Result<(u64, String), String> {
    let resp = client
        .post(format!("{}/api/v1/tasks/add", args.url))
        .bearer_auth(&args.key)
        .json(&json!({ "x": i, "y": i }))
        .send()
        .await
        .map_err(|e| format!("submit {i}: {e}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| format!("submit {i}: {e}"))?;
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(format!("submit {i}: HTTP {status}: {body}"));
    }
    match body["task_id"].as_str() {
        Some(id) => Ok((i, id.to_owned())),
        None => Err(format!("submit {i}: no task_id in {body}")),
    }
}

/// Polls one job until it is done and checks its value; returns how many polls it took and
/// the job as last read.
async fn wait_done(
    client: &reqwest::Client,
    args: &Args,
    i: u64,
    id: &str,
) -> Result<(u64, Value), String> {
    let url = format!("{}/api/v1/task/{id}/", args.url);
    let deadline = Instant::now() + JOB_DEADLINE;
    let mut polls = 0;
    loop {
        polls += 1;
        let resp = client
            .get(&url)
            .bearer_auth(&args.key)
            .send()
            .await
            .map_err(|e| format!("poll {id}: {e}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| format!("poll {id}: {e}"))?;
        if !status.is_success() {
            return Err(format!("poll {id}: HTTP {status}: {body}"));
        }
        match body["status"].as_str() {
            Some("done") => {
                let value = &body["result"]["value"];
                return if value.as_u64() == Some(2 * i) {
                    Ok((polls, body))
                } else {
                    Err(format!(
                        "job {id} (x=y={i}): expected {}, got {value}",
                        2 * i
                    ))
                };
            }
            Some("queued" | "running") if Instant::now() < deadline => {
                tokio::time::sleep(REPOLL).await
            }
            Some("queued" | "running") => {
                return Err(format!("job {id} not done after {JOB_DEADLINE:?}"))
            }
            other => return Err(format!("job {id} ended {other:?}: {body}")),
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let ids: Vec<(u64, String)> = stream::iter(0..args.jobs)
        .map(|i| submit(&client, &args, i))
        .buffer_unordered(args.concurrency)
        .try_collect()
        .await?;
    let enqueued = started.elapsed();
    let polls = stream::iter(&ids)
        .map(|(i, id)| wait_done(&client, &args, *i, id))
        .buffer_unordered(args.concurrency)
        .try_fold(0, |sum, (n, _)| async move { Ok(sum + n) })
        .await?;
    let total = started.elapsed();
    let n = args.jobs as f64;
    println!(
        "assay: jobs={} enqueue_per_s={:.0} end_to_end_per_s={:.0} seconds={:.2} polls={polls}",
        args.jobs,
        n / enqueued.as_secs_f64(),
        n / total.as_secs_f64(),
        total.as_secs_f64()
    );
    if args.latency > 0 {
        latency(&client, &args).await?;
    }
    Ok(())
}

fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Enqueue-to-start latency on an idle queue: one job at a time.
async fn latency(client: &reqwest::Client, args: &Args) -> Result<(), String> {
    let mut waits = Vec::new();
    for i in 0..args.latency {
        let sent = unix_ms(SystemTime::now());
        let (_, id) = submit(client, args, i).await?;
        let (_, job) = wait_done(client, args, i, &id).await?;
        let started = job["started_at"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .ok_or_else(|| format!("job {id}: no started_at in {job}"))?;
        let started = (started.unix_timestamp_nanos() / 1_000) as f64 / 1000.0;
        waits.push((started - sent).max(0.0));
        // Let the worker go idle again, as a lone submission would find it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    waits.sort_by(f64::total_cmp);
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q).round() as usize];
    println!(
        "latency: n={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        waits.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("queue_load: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("queue_load: {e}");
            ExitCode::FAILURE
        }
    }
}
