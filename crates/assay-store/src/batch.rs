//! Group commit: concurrent callers' small writes are gathered and written in one statement.
//!
//! SQLite has one writer, and each statement is a round trip to the connection's thread; under
//! load most of a write's cost is that trip, not the write. A batcher task takes whatever
//! requests are waiting (up to a cap), runs them as one multi-row statement, and answers each
//! caller. With no contention a batch has one request and adds nothing but a channel hop.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Most requests written in one statement; keeps statements well under SQLite's variable limit.
pub(crate) const MAX_BATCH: usize = 256;

type Pending<Req, Resp> = (Req, oneshot::Sender<Result<Resp>>);

/// A handle through which requests reach the batcher task.
pub(crate) struct Batcher<Req, Resp> {
    tx: mpsc::Sender<Pending<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Batcher {
            tx: self.tx.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Spawns the task; `write` gets a batch and must answer one result per request, in order.
    pub(crate) fn spawn<F, Fut>(write: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Resp>>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Pending<Req, Resp>>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut pending, MAX_BATCH).await > 0 {
                let (requests, replies): (Vec<Req>, Vec<_>) = pending.drain(..).unzip();
                match write(requests).await {
                    Ok(responses) => {
                        for (reply, response) in replies.into_iter().zip(responses) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                    Err(e) => {
                        let (message, unavailable) = (e.to_string(), e.is_unavailable());
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Batch {
                                message: message.clone(),
                                unavailable,
                            }));
                        }
                    }
                }
            }
        });
        Batcher { tx }
    }

    pub(crate) async fn submit(&self, request: Req) -> Result<Resp> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Batch {
        message: "the store is closed".into(),
        unavailable: false,
    }
}
