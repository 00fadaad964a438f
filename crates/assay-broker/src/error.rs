use thiserror::Error;

/// What went wrong talking to a broker. [`BrokerError::is_retryable`] tells whether the same
/// call may succeed later (the broker was down or the connection dropped).
#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("The broker URL scheme {scheme:?} is not supported; use nats://, redis:// or amqp:// (rediss:// and amqps:// are not built in).")]
    UnsupportedScheme { scheme: String },
    #[error(
        "This build has no {feature} transport; build assay-broker with the `{feature}` feature."
    )]
    FeatureDisabled { feature: &'static str },
    #[error("{value:?} is not a valid {what}; use 1 to 64 ASCII letters, digits, '-' or '_'.")]
    InvalidName { what: &'static str, value: String },
    #[error("Invalid broker options: {0}")]
    InvalidOptions(String),
    #[error("Could not reach the broker: {0}.")]
    Connection(String),
    #[error("The broker refused the request: {0}.")]
    Refused(String),
    #[error("The broker did not confirm the message: {0}; publish it again.")]
    NotConfirmed(String),
    #[error("This delivery is no longer ours (its ack wait passed or its connection dropped); the broker delivers it again, so the job may run elsewhere.")]
    DeliveryLost,
}

impl BrokerError {
    /// A stable identifier for logs, metrics and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            BrokerError::UnsupportedScheme { .. } => "broker_unsupported_scheme",
            BrokerError::FeatureDisabled { .. } => "broker_feature_disabled",
            BrokerError::InvalidName { .. } => "broker_invalid_name",
            BrokerError::InvalidOptions(_) => "broker_invalid_options",
            BrokerError::Connection(_) => "broker_unavailable",
            BrokerError::Refused(_) => "broker_refused",
            BrokerError::NotConfirmed(_) => "broker_not_confirmed",
            BrokerError::DeliveryLost => "broker_delivery_lost",
        }
    }

    /// Whether retrying the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BrokerError::Connection(_) | BrokerError::NotConfirmed(_)
        )
    }
}
