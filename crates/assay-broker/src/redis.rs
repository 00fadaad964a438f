//! Redis Streams: one stream per kind read by the consumer group `workers`.
//!
//! Redis has no ack timer of its own: every subscription claims entries left idle for
//! `ack_wait` (`XAUTOCLAIM`) between its blocking reads, and moves those delivered more than
//! `max_deliver` times to the dead stream. `progress` and `nack` move an entry's delivery time
//! (`XCLAIM … TIME`) so the claim finds it later or sooner.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use redis::{AsyncConnectionConfig, RedisError, RedisResult, Value};
use tokio::sync::Mutex;

use crate::backoff::Backoff;
use crate::{
    check_kind, check_subscription, client_name, decode, encode, Announcement, Broker, BrokerError,
    BrokerOptions, Delivery, Subscription, Ticket,
};

const GROUP: &str = "workers";
const FIELD: &str = "announcement";

/// Moves an entry's last delivery time to `now + ARGV[4]` ms if `ARGV[2]` still owns it.
/// With `ARGV[4] = delay - ack_wait` (≤ 0) the idle claim picks it up after `delay`.
const TOUCH: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'TIME', now + tonumber(ARGV[4]), 'JUSTID')
return 1
";

/// Removes the group's consumers that hold no entries and were idle past `ARGV[2]` ms: each
/// subscription is a consumer of its own, and those of stopped workers would pile up. Atomic,
/// so a consumer cannot read an entry between the check and the removal (and a live one that
/// is removed is recreated by its next read).
const PRUNE: &str = r"
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
";

/// How often a subscription prunes, and how long a consumer must have been idle.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_IDLE: Duration = Duration::from_secs(600);

/// One connection, reopened (after a backoff) by the first call after it failed.
struct Conn {
    client: redis::Client,
    name: String,
    config: AsyncConnectionConfig,
    state: Mutex<(Option<MultiplexedConnection>, Backoff)>,
}

impl Conn {
    fn new(client: redis::Client, name: String, response_timeout: Duration) -> Self {
        Conn {
            client,
            name,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(5)))
                .set_response_timeout(Some(response_timeout)),
            state: Mutex::new((None, Backoff::default())),
        }
    }

    async fn get(&self) -> Result<MultiplexedConnection, BrokerError> {
        let mut state = self.state.lock().await;
        if let Some(conn) = &state.0 {
            return Ok(conn.clone());
        }
        state.1.wait().await;
        match self.open().await {
            Ok(conn) => {
                state.1.succeeded();
                Ok(state.0.insert(conn).clone())
            }
            Err(e) => {
                state.1.failed();
                Err(connection(e))
            }
        }
    }

    async fn open(&self) -> RedisResult<MultiplexedConnection> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&self.name)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(conn)
    }

    /// Turns a reply into our result, dropping the connection if it failed.
    async fn check<T>(&self, result: RedisResult<T>) -> Result<T, BrokerError> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                {
                    self.state.lock().await.0 = None;
                    Err(connection(e))
                } else {
                    Err(BrokerError::Refused(e.to_string()))
                }
            }
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, BrokerError> {
        let mut conn = self.get().await?;
        let result = cmd.query_async(&mut conn).await;
        self.check(result).await
    }

    async fn pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, BrokerError> {
        let mut conn = self.get().await?;
        let result = pipe.query_async(&mut conn).await;
        self.check(result).await
    }
}

fn connection(e: RedisError) -> BrokerError {
    BrokerError::Connection(e.to_string())
}

/// What the broker and its subscriptions and tickets share.
struct Shared {
    /// For everything but blocking reads, which would hold up the other commands.
    control: Conn,
    client: redis::Client,
    options: BrokerOptions,
    touch: redis::Script,
    prune: redis::Script,
}

impl Shared {
    fn stream(&self, kind: &str) -> String {
        format!("{}:jobs:{kind}", self.options.prefix)
    }

    fn dead(&self) -> String {
        format!("{}:dead", self.options.prefix)
    }
}

pub(crate) struct RedisBroker(Arc<Shared>);

impl RedisBroker {
    pub(crate) async fn connect(url: &str, options: BrokerOptions) -> Result<Self, BrokerError> {
        let client = redis::Client::open(url).map_err(|e| {
            BrokerError::InvalidOptions(format!("the Redis URL is not valid: {e}."))
        })?;
        let shared = Shared {
            control: Conn::new(
                client.clone(),
                client_name(&options),
                Duration::from_secs(5),
            ),
            client,
            options,
            touch: redis::Script::new(TOUCH),
            prune: redis::Script::new(PRUNE),
        };
        shared.control.get().await?;
        Ok(RedisBroker(Arc::new(shared)))
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, a: &Announcement) -> Result<(), BrokerError> {
        check_kind(&a.kind)?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.0.stream(&a.kind))
            .arg("*")
            .arg(FIELD)
            .arg(encode(a));
        self.0.control.query::<String>(&cmd).await.map(|_| ())
    }

    async fn subscribe(
        &self,
        kinds: &[String],
        prefetch: u16,
    ) -> Result<Box<dyn Subscription>, BrokerError> {
        check_subscription(kinds, prefetch)?;
        let shared = &self.0;
        let reclaim_every =
            (shared.options.ack_wait / 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let subscription = RedisSubscription {
            reader: Conn::new(
                shared.client.clone(),
                client_name(&shared.options),
                reclaim_every + Duration::from_secs(5),
            ),
            shared: Arc::clone(shared),
            streams: kinds.iter().map(|k| shared.stream(k)).collect(),
            consumer: uuid::Uuid::new_v4().simple().to_string(),
            prefetch,
            ready: VecDeque::new(),
            last_reclaim: None,
            last_prune: Instant::now(),
            reclaim_every,
        };
        subscription.create_groups().await?;
        Ok(Box::new(subscription))
    }

    /// Every command waited for its reply: nothing is buffered, and the connections close
    /// when the broker and its subscriptions are dropped.
    async fn close(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn check(&self) -> Result<(), BrokerError> {
        self.0
            .control
            .query::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
    }
}

struct RedisSubscription {
    reader: Conn,
    shared: Arc<Shared>,
    streams: Vec<String>,
    consumer: String,
    /// Entries taken per read or claim.
    prefetch: u16,
    /// Entries read or claimed but not handed out yet: (stream, entry, deliveries).
    ready: VecDeque<(String, StreamId, u32)>,
    last_reclaim: Option<Instant>,
    last_prune: Instant,
    reclaim_every: Duration,
}

impl RedisSubscription {
    async fn create_groups(&self) -> Result<(), BrokerError> {
        for stream in &self.streams {
            let mut cmd = redis::cmd("XGROUP");
            cmd.arg("CREATE")
                .arg(stream)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM");
            match self.shared.control.query::<()>(&cmd).await {
                Err(BrokerError::Refused(e)) if e.contains("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Claims entries idle past `ack_wait`: their worker died, hung, or nacked them.
    async fn reclaim(&mut self) -> Result<(), BrokerError> {
        let options = &self.shared.options;
        let min_idle = options.ack_wait.as_millis() as u64;
        for stream in &self.streams {
            let mut cmd = redis::cmd("XAUTOCLAIM");
            cmd.arg(stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(min_idle)
                .arg("0-0")
                .arg(StreamAutoClaimOptions::default().count(usize::from(self.prefetch)));
            let reply: StreamAutoClaimReply = self.shared.control.query(&cmd).await?;
            let (Some(first), Some(last)) = (reply.claimed.first(), reply.claimed.last()) else {
                continue;
            };
            let mut cmd = redis::cmd("XPENDING");
            cmd.arg(stream)
                .arg(GROUP)
                .arg(&first.id)
                .arg(&last.id)
                .arg(reply.claimed.len())
                .arg(&self.consumer);
            let pending: StreamPendingCountReply = self.shared.control.query(&cmd).await?;
            let deliveries: HashMap<String, usize> = pending
                .ids
                .into_iter()
                .map(|p| (p.id, p.times_delivered))
                .collect();
            for entry in reply.claimed {
                let n = deliveries.get(&entry.id).copied().unwrap_or(1);
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                self.ready.push_back((stream.clone(), entry, n));
            }
        }
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.last_prune = Instant::now();
            for stream in &self.streams {
                let mut invocation = self.shared.prune.key(stream);
                invocation.arg(GROUP).arg(PRUNE_IDLE.as_millis() as u64);
                let mut conn = self.shared.control.get().await?;
                let result = invocation.invoke_async::<i64>(&mut conn).await;
                let removed = self.shared.control.check(result).await?;
                if removed > 0 {
                    tracing::debug!(stream, removed, "removed idle Redis stream consumers");
                }
            }
        }
        Ok(())
    }

    async fn read(&mut self) -> Result<(), BrokerError> {
        let options = StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(usize::from(self.prefetch))
            .block(self.reclaim_every.as_millis() as usize);
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg(options).arg("STREAMS").arg(&self.streams);
        for _ in &self.streams {
            cmd.arg(">");
        }
        let reply: Option<StreamReadReply> = self.reader.query(&cmd).await?;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                self.ready.push_back((key.key.clone(), entry, 1));
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        stream: &str,
        entry: &StreamId,
        reason: &str,
    ) -> Result<(), BrokerError> {
        tracing::warn!(stream, id = %entry.id, reason, "dead-lettering a job announcement");
        let payload = match entry.map.get(FIELD) {
            Some(Value::BulkString(bytes)) => bytes.clone(),
            _ => Vec::new(),
        };
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(self.shared.dead())
            .arg("*")
            .arg(FIELD)
            .arg(payload)
            .arg("stream")
            .arg(stream)
            .arg("id")
            .arg(&entry.id)
            .arg("reason")
            .arg(reason)
            .ignore()
            .cmd("XACK")
            .arg(stream)
            .arg(GROUP)
            .arg(&entry.id)
            .ignore()
            .cmd("XDEL")
            .arg(stream)
            .arg(&entry.id)
            .ignore();
        self.shared.control.pipe::<()>(&pipe).await
    }
}

#[async_trait]
impl Subscription for RedisSubscription {
    async fn next(&mut self) -> Result<Delivery, BrokerError> {
        loop {
            if let Some((stream, entry, deliveries)) = self.ready.pop_front() {
                if deliveries > self.shared.options.max_deliver {
                    let reason = format!("delivered {} times without an ack", deliveries - 1);
                    self.dead_letter(&stream, &entry, &reason).await?;
                    continue;
                }
                let announcement = match entry.map.get(FIELD) {
                    Some(Value::BulkString(bytes)) => decode(bytes),
                    _ => Err(format!("the entry has no {FIELD} field")),
                };
                match announcement {
                    Ok(announcement) => {
                        let ticket = RedisTicket {
                            shared: Arc::clone(&self.shared),
                            stream,
                            id: entry.id,
                            consumer: self.consumer.clone(),
                        };
                        return Ok(Delivery::new(announcement, deliveries, Box::new(ticket)));
                    }
                    Err(reason) => self.dead_letter(&stream, &entry, &reason).await?,
                }
                continue;
            }
            let step = if self
                .last_reclaim
                .is_none_or(|at| at.elapsed() >= self.reclaim_every)
            {
                self.last_reclaim = Some(Instant::now());
                self.reclaim().await
            } else {
                self.read().await
            };
            match step {
                // The stream was deleted (or Redis restarted empty): start again.
                Err(BrokerError::Refused(e)) if e.contains("NOGROUP") => {
                    self.create_groups().await?
                }
                other => other?,
            }
        }
    }
}

struct RedisTicket {
    shared: Arc<Shared>,
    stream: String,
    id: String,
    consumer: String,
}

impl RedisTicket {
    async fn touch(&self, offset_ms: i64) -> Result<(), BrokerError> {
        let mut invocation = self.shared.touch.key(&self.stream);
        invocation
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(&self.id)
            .arg(offset_ms);
        let mut conn = self.shared.control.get().await?;
        let result = invocation.invoke_async::<i64>(&mut conn).await;
        match self.shared.control.check(result).await? {
            1 => Ok(()),
            _ => Err(BrokerError::DeliveryLost),
        }
    }
}

#[async_trait]
impl Ticket for RedisTicket {
    async fn ack(self: Box<Self>) -> Result<(), BrokerError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.id)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(&self.id)
            .ignore();
        self.shared.control.pipe::<()>(&pipe).await
    }

    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), BrokerError> {
        let ack_wait = self.shared.options.ack_wait;
        let early = ack_wait.saturating_sub(delay);
        self.touch(-(early.as_millis() as i64)).await
    }

    async fn progress(&self) -> Result<(), BrokerError> {
        self.touch(0).await
    }
}
