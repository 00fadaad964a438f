//! The table queue's guarantees, against a real SQLite file per test.

use assay_core::{now_ms, sha256_hex, Effect, JobStatus, Output};
use assay_store::{CancelOutcome, NewJob, Scope, Store};
use serde_json::json;

async fn store() -> (Store, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("q.db")).await.unwrap();
    let user = store.create_user("u", false).await.unwrap();
    (store, user.id, dir)
}

fn new_job(owner: &str, kind: &str, priority: i32) -> NewJob {
    NewJob {
        kind: kind.into(),
        input: json!({"n": priority}),
        input_sha256: sha256_hex(b"x"),
        owner: owner.into(),
        priority,
        max_attempts: 2,
        dedup_key: None,
        dedup_window_ms: 0,
    }
}

#[tokio::test]
async fn claims_by_priority_then_age_and_only_known_kinds() {
    let (store, owner, _dir) = store().await;
    let low = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let high = store.enqueue(new_job(&owner, "add", 5)).await.unwrap().0;
    let other = store.enqueue(new_job(&owner, "other", 9)).await.unwrap().0;
    let low2 = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let claimed = store.claim("w", &["add"], 10, 30_000).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|j| j.id).collect();
    assert_eq!(ids, [high.id, low.id, low2.id]);
    assert!(claimed
        .iter()
        .all(|j| j.status == JobStatus::Running && j.fence == 1 && j.attempts == 1));
    assert!(store
        .claim("w", &["add"], 10, 30_000)
        .await
        .unwrap()
        .is_empty());
    let left = store.get_job(other.id, &Scope::All).await.unwrap().unwrap();
    assert_eq!(left.status, JobStatus::Queued);
}

#[tokio::test]
async fn a_stale_attempt_cannot_write_after_the_job_was_reclaimed() {
    let (store, owner, _dir) = store().await;
    let job = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let first = store.claim("w1", &["add"], 1, 1).await.unwrap().remove(0);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(store.reap_expired().await.unwrap(), 1);
    let second = store
        .claim("w2", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((second.id, second.fence, second.attempts), (job.id, 2, 2));

    // The first worker wakes up and tries to finish, heartbeat and fail: all refused.
    assert!(!store
        .complete(&first, &Output::new(json!({"value": "stale"})))
        .await
        .unwrap());
    assert!(!store.fail(&first, "late", None).await.unwrap());
    assert_eq!(
        store
            .heartbeat(&[(first.id, first.fence)], 30_000)
            .await
            .unwrap(),
        [(first.id, first.fence)]
    );
    assert!(store
        .heartbeat(&[(second.id, second.fence)], 30_000)
        .await
        .unwrap()
        .is_empty());

    assert!(store
        .complete(&second, &Output::new(json!({"value": "fresh"})))
        .await
        .unwrap());
    let done = store.get_job(job.id, &Scope::All).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.result, Some(json!({"value": "fresh"})));
    let events: Vec<String> = store
        .job_events(job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(events, ["requeued", "done"]);
}

#[tokio::test]
async fn a_lapsed_last_attempt_fails_with_its_reason() {
    let (store, owner, _dir) = store().await;
    let job = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    for _ in 0..2 {
        store.claim("w", &["add"], 1, 1).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store.reap_expired().await.unwrap();
    }
    let failed = store.get_job(job.id, &Scope::All).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed
        .message
        .unwrap()
        .contains("last allowed attempt (2 of 2)"));
    assert!(failed.finished_at.is_some());
}

#[tokio::test]
async fn retries_wait_for_run_after_and_failures_stay_visible() {
    let (store, owner, _dir) = store().await;
    let job = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let attempt = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert!(store
        .fail(&attempt, "flaky", Some(now_ms() + 60_000))
        .await
        .unwrap());
    assert!(
        store
            .claim("w", &["add"], 1, 30_000)
            .await
            .unwrap()
            .is_empty(),
        "not before run_after"
    );
    let queued = store.get_job(job.id, &Scope::All).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.message.as_deref()),
        (JobStatus::Queued, Some("flaky"))
    );

    let job2 = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let attempt = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert!(store.fail(&attempt, "broken input", None).await.unwrap());
    let failed = store.get_job(job2.id, &Scope::All).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.message.as_deref()),
        (JobStatus::Failed, Some("broken input"))
    );
}

#[tokio::test]
async fn release_hands_the_job_back_without_spending_an_attempt() {
    let (store, owner, _dir) = store().await;
    let job = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let attempt = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert!(store.release(&attempt).await.unwrap());
    let again = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((again.id, again.attempts, again.fence), (job.id, 1, 2));
}

#[tokio::test]
async fn cancel_stops_queued_and_running_jobs_only() {
    let (store, owner, _dir) = store().await;
    let scope = Scope::Owner(owner.clone());
    let queued = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    assert!(
        matches!(store.cancel(queued.id, &scope).await.unwrap(), CancelOutcome::Cancelled(j) if j.status == JobStatus::Cancelled)
    );
    assert!(matches!(
        store.cancel(queued.id, &scope).await.unwrap(),
        CancelOutcome::AlreadyFinished(_)
    ));
    assert_eq!(
        store
            .cancel(queued.id, &Scope::Owner("someone".into()))
            .await
            .unwrap(),
        CancelOutcome::NotFound
    );

    store.enqueue(new_job(&owner, "add", 0)).await.unwrap();
    let running = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(
        store.cancel(running.id, &scope).await.unwrap(),
        CancelOutcome::Cancelled(_)
    ));
    assert_eq!(
        store
            .heartbeat(&[(running.id, running.fence)], 30_000)
            .await
            .unwrap(),
        [(running.id, running.fence)]
    );
    assert!(!store
        .complete(&running, &Output::new(json!(1)))
        .await
        .unwrap());
}

#[tokio::test]
async fn dedup_returns_the_recent_job_unless_it_failed() {
    let (store, owner, _dir) = store().await;
    let keyed = |window| NewJob {
        dedup_key: Some("pkg:npm/x@1".into()),
        dedup_window_ms: window,
        ..new_job(&owner, "add", 0)
    };
    let (first, dup) = store.enqueue(keyed(60_000)).await.unwrap();
    assert!(!dup);
    let (second, dup) = store.enqueue(keyed(60_000)).await.unwrap();
    assert!(dup);
    assert_eq!(second.id, first.id);
    let attempt = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    store.fail(&attempt, "boom", None).await.unwrap();
    let (third, dup) = store.enqueue(keyed(60_000)).await.unwrap();
    assert!(!dup, "a failed job is not reused");
    assert_ne!(third.id, first.id);
}

#[tokio::test]
async fn effects_are_written_once_with_the_result() {
    let (store, owner, _dir) = store().await;
    store.enqueue(new_job(&owner, "message", 0)).await.unwrap();
    let attempt = store
        .claim("w", &["message"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    let output = Output {
        result: json!({"stored": true}),
        effects: vec![Effect::StoreMessage {
            data: "hi".into(),
            template: "default".into(),
        }],
    };
    assert!(store.complete(&attempt, &output).await.unwrap());
    assert!(!store.complete(&attempt, &output).await.unwrap());
    let messages = store.list_messages(&Scope::Owner(owner), 10).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data, "hi");
}

#[tokio::test]
async fn users_and_keys() {
    let (store, _owner, _dir) = store().await;
    assert!(
        store.create_user("u", false).await.is_err(),
        "names are unique"
    );
    assert!(store.create_user("bad name!", false).await.is_err());
    assert!(store.create_api_key("nobody").await.is_err());
    let key = store.create_api_key("u").await.unwrap();
    assert!(key.secret.starts_with("assay_") && key.secret.len() == 46);
    assert_eq!(
        store.authenticate(&key.secret).await.unwrap().unwrap().name,
        "u"
    );
    assert!(store.authenticate("assay_nope").await.unwrap().is_none());
    assert!(store.authenticate("").await.unwrap().is_none());
}

#[tokio::test]
async fn a_finished_job_read_from_memory_matches_the_database() {
    let (store, owner, dir) = store().await;
    store.enqueue(new_job(&owner, "add", 0)).await.unwrap();
    let attempt = store
        .claim("w", &["add"], 1, 30_000)
        .await
        .unwrap()
        .remove(0);
    assert!(store
        .complete(&attempt, &Output::new(json!({"value": 2})))
        .await
        .unwrap());
    let cached = store
        .get_job(attempt.id, &Scope::All)
        .await
        .unwrap()
        .unwrap();
    let other_process = Store::open(&dir.path().join("q.db")).await.unwrap();
    let stored = other_process
        .get_job(attempt.id, &Scope::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cached, stored);
    assert!(store
        .get_job(attempt.id, &Scope::Owner("someone".into()))
        .await
        .unwrap()
        .is_none());
    let (job, position) = store
        .get_job_with_position(attempt.id, &Scope::Owner(owner))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.status, position), (JobStatus::Done, None));
}
