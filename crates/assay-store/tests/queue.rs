//! The table queue's guarantees: every test runs against a fresh SQLite file and a fresh
//! PostgreSQL database (see `on_both_backends!` at the end).

use std::collections::HashSet;
use std::time::Duration;

use assay_core::{now_ms, sha256_hex, Effect, JobStatus, Output};
use assay_store::testing::{Backend, TestDatabase};
use assay_store::{CancelOutcome, JobFilter, NewJob, Scope, Store, StoreOptions};
use serde_json::json;

async fn store(backend: Backend) -> (Store, String, TestDatabase) {
    store_with(backend, StoreOptions::default()).await
}

async fn store_with(backend: Backend, options: StoreOptions) -> (Store, String, TestDatabase) {
    let db = TestDatabase::new(backend).await;
    let store = Store::connect_with(db.url(), &options).await.unwrap();
    let user = store.create_user("u", false).await.unwrap();
    (store, user.id, db)
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

async fn claims_by_priority_then_age_and_only_known_kinds(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn a_stale_attempt_cannot_write_after_the_job_was_reclaimed(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn a_lapsed_last_attempt_fails_with_its_reason(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn retries_wait_for_run_after_and_failures_stay_visible(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn release_hands_the_job_back_without_spending_an_attempt(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn cancel_stops_queued_and_running_jobs_only(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn dedup_returns_the_recent_job_unless_it_failed(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn effects_are_written_once_with_the_result(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
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

async fn users_and_keys(backend: Backend) {
    let (store, _owner, _db) = store(backend).await;
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

async fn a_finished_job_read_from_memory_matches_the_database(backend: Backend) {
    let (store, owner, db) = store(backend).await;
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
    let other_process = Store::connect(db.url()).await.unwrap();
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

async fn each_job_is_claimed_once_by_racing_workers(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
    for _ in 0..200 {
        store.enqueue(new_job(&owner, "add", 0)).await.unwrap();
    }
    let claimers = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim(&format!("w{w}"), &["add"], 7, 30_000)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|j| j.id));
            }
        })
    });
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 200);
}

async fn claim_job_takes_only_a_queued_due_job_of_a_known_kind(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
    let job = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    assert!(store
        .claim_job(job.id, "w", 30_000, &["other"])
        .await
        .unwrap()
        .is_none());
    let claimed = store
        .claim_job(job.id, "w", 30_000, &["add"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (claimed.id, claimed.status, claimed.fence, claimed.attempts),
        (job.id, JobStatus::Running, 1, 1)
    );
    assert!(
        store
            .claim_job(job.id, "w2", 30_000, &["add"])
            .await
            .unwrap()
            .is_none(),
        "a running job is not claimed again"
    );
    assert!(store
        .fail(&claimed, "flaky", Some(now_ms() + 60_000))
        .await
        .unwrap());
    assert!(
        store
            .claim_job(job.id, "w2", 30_000, &["add"])
            .await
            .unwrap()
            .is_none(),
        "not before its retry is due"
    );
}

async fn the_outbox_records_every_transition_to_queued(backend: Backend) {
    let options = StoreOptions {
        outbox: true,
        ..StoreOptions::default()
    };
    let (store, owner, db) = store_with(backend, options).await;
    let job = NewJob {
        max_attempts: 5,
        ..new_job(&owner, "add", 0)
    };
    let job = store.enqueue(job).await.unwrap().0;
    let keyed = NewJob {
        dedup_key: Some("k".into()),
        dedup_window_ms: 60_000,
        ..new_job(&owner, "message", 0)
    };
    let deduped = store.enqueue(keyed.clone()).await.unwrap().0;
    assert!(
        store.enqueue(keyed).await.unwrap().1,
        "a duplicate adds no entry"
    );

    let entries = store.outbox_take(10).await.unwrap();
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.job_id, e.kind.as_str()))
        .collect();
    assert_eq!(got, [(job.id, "add"), (deduped.id, "message")]);
    assert!(entries[0].available_at >= job.created_at);
    store
        .outbox_done(&entries.iter().map(|e| e.id).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(store.outbox_take(10).await.unwrap().is_empty());

    // A retry, a release and a lapsed lease each announce the job again.
    let attempt = store
        .claim_job(job.id, "w", 30_000, &["add"])
        .await
        .unwrap()
        .unwrap();
    let retry_at = now_ms() + 5;
    assert!(store.fail(&attempt, "flaky", Some(retry_at)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(10)).await;
    let attempt = store
        .claim_job(job.id, "w", 30_000, &["add"])
        .await
        .unwrap()
        .unwrap();
    assert!(store.release(&attempt).await.unwrap());
    store
        .claim_job(job.id, "w", 1, &["add"])
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(store.reap_expired().await.unwrap(), 1);
    let entries = store.outbox_take(10).await.unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.iter().all(|e| e.job_id == job.id));
    assert_eq!(entries[0].available_at, retry_at);

    // A store opened without the outbox writes none, even on the same database.
    let plain = Store::connect(db.url()).await.unwrap();
    plain.enqueue(new_job(&owner, "add", 0)).await.unwrap();
    assert_eq!(store.outbox_take(10).await.unwrap().len(), 3);
}

async fn pruning_deletes_old_finished_jobs_only(backend: Backend) {
    let (store, owner, _db) = store(backend).await;
    let queued = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let mut finished = Vec::new();
    for _ in 0..3 {
        finished.push(store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0);
    }
    let running = store.enqueue(new_job(&owner, "add", 0)).await.unwrap().0;
    let claimed = store.claim("w", &["add"], 5, 30_000).await.unwrap();
    let attempt = |id| claimed.iter().find(|j| j.id == id).unwrap();
    assert!(store.cancel(queued.id, &Scope::All).await.is_ok());
    assert!(store
        .complete(attempt(finished[0].id), &Output::new(json!(1)))
        .await
        .unwrap());
    assert!(store
        .fail(attempt(finished[1].id), "broken", None)
        .await
        .unwrap());
    assert!(store
        .fail(attempt(finished[2].id), "flaky", Some(now_ms()))
        .await
        .unwrap());

    assert_eq!(
        store.prune_finished(Duration::from_secs(60)).await.unwrap(),
        0,
        "nothing is old enough yet"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(store.prune_finished(Duration::ZERO).await.unwrap(), 3);
    let left: HashSet<_> = store
        .list_jobs(
            &Scope::All,
            &JobFilter {
                limit: 10,
                ..JobFilter::default()
            },
        )
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| (j.id, j.status))
        .collect();
    assert_eq!(
        left,
        HashSet::from([
            (finished[2].id, JobStatus::Queued),
            (running.id, JobStatus::Running)
        ])
    );
    assert!(store
        .get_job(finished[0].id, &Scope::All)
        .await
        .unwrap()
        .is_none());
    assert!(store.job_events(finished[1].id).await.unwrap().is_empty());
    assert_eq!(store.job_events(finished[2].id).await.unwrap().len(), 1);
}

assay_store::on_both_backends!(
    claims_by_priority_then_age_and_only_known_kinds,
    a_stale_attempt_cannot_write_after_the_job_was_reclaimed,
    a_lapsed_last_attempt_fails_with_its_reason,
    retries_wait_for_run_after_and_failures_stay_visible,
    release_hands_the_job_back_without_spending_an_attempt,
    cancel_stops_queued_and_running_jobs_only,
    dedup_returns_the_recent_job_unless_it_failed,
    effects_are_written_once_with_the_result,
    users_and_keys,
    a_finished_job_read_from_memory_matches_the_database,
    each_job_is_claimed_once_by_racing_workers,
    claim_job_takes_only_a_queued_due_job_of_a_known_kind,
    the_outbox_records_every_transition_to_queued,
    pruning_deletes_old_finished_jobs_only,
);
