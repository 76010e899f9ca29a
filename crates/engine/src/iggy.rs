//! The Iggy side: connecting clients and making sure streams, topics and groups exist.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iggy::prelude::{
    Client, CompressionAlgorithm, ConsumerGroupClient, Identifier, IggyClient, IggyDuration,
    IggyError, IggyExpiry, MaxTopicSize, StreamClient, TcpClient, TcpClientConfig,
    TcpClientReconnectionConfig, TopicClient,
};
use iggy_common::{AutoLogin, Credentials};

use crate::config::IggyConfig;
use crate::error::EngineError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connects and logs in one TCP client. Reconnection is the client's own: unlimited retries
/// every second, as upstream's connection-string defaults.
pub async fn connect(config: &IggyConfig) -> Result<Arc<IggyClient>, EngineError> {
    let error = |message: String| EngineError::Connect {
        address: config.address.clone(),
        message,
    };
    let credentials = match (&config.token, &config.username, &config.password) {
        (Some(token), _, _) if !token.is_empty() => {
            Credentials::PersonalAccessToken(token.clone().into())
        }
        (_, Some(user), Some(pass)) if !user.is_empty() && !pass.is_empty() => {
            Credentials::UsernamePassword(user.clone(), pass.clone().into())
        }
        _ => {
            return Err(error(
                "no credentials: set a token, or a username and a password".to_owned(),
            ));
        }
    };
    let tcp = TcpClientConfig {
        server_address: config.address.clone(),
        tls_enabled: config.tls_enabled,
        tls_domain: config.tls_domain.clone().unwrap_or_default(),
        tls_ca_file: config.tls_ca_file.clone(),
        auto_login: AutoLogin::Enabled(credentials),
        reconnection: TcpClientReconnectionConfig {
            enabled: true,
            max_retries: None,
            interval: IggyDuration::from_str("1s").expect("valid duration"),
            reestablish_after: IggyDuration::from_str("5s").expect("valid duration"),
        },
        nodelay: true,
        ..TcpClientConfig::default()
    };
    let client = TcpClient::create(Arc::new(tcp)).map_err(|e| error(e.to_string()))?;
    let client = IggyClient::new(iggy::prelude::ClientWrapper::Tcp(client));
    match tokio::time::timeout(CONNECT_TIMEOUT, client.connect()).await {
        Ok(Ok(())) => Ok(Arc::new(client)),
        Ok(Err(e)) => Err(error(e.to_string())),
        Err(_) => Err(error(format!(
            "no connection within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// A stream or topic name as an identifier: numeric strings are numeric ids (as upstream).
pub fn identifier(value: &str) -> Result<Identifier, IggyError> {
    Identifier::from_str_value(value)
}

/// What to do when the stream or topic is missing.
pub struct EnsureTopic<'a> {
    pub stream: &'a str,
    pub topic: &'a str,
    pub create_stream: bool,
    pub create_topic: bool,
    pub partitions: u32,
}

/// Makes sure the stream and topic exist, creating them only when allowed. Returns the
/// topic's partition count.
pub async fn ensure_topic(client: &IggyClient, spec: EnsureTopic<'_>) -> Result<u32, String> {
    let stream_id = identifier(spec.stream).map_err(|e| e.to_string())?;
    let topic_id = identifier(spec.topic).map_err(|e| e.to_string())?;
    let stream = client
        .get_stream(&stream_id)
        .await
        .map_err(|e| format!("cannot read stream '{}': {e}", spec.stream))?;
    if stream.is_none() {
        if !spec.create_stream {
            return Err(format!(
                "stream '{}' does not exist (set create_stream = true to create it)",
                spec.stream
            ));
        }
        client
            .create_stream(spec.stream)
            .await
            .map_err(|e| format!("cannot create stream '{}': {e}", spec.stream))?;
    }
    if let Some(topic) = client
        .get_topic(&stream_id, &topic_id)
        .await
        .map_err(|e| format!("cannot read topic '{}/{}': {e}", spec.stream, spec.topic))?
    {
        return Ok(topic.partitions_count);
    }
    if !spec.create_topic {
        return Err(format!(
            "topic '{}/{}' does not exist (set create_topic = true to create it)",
            spec.stream, spec.topic
        ));
    }
    let partitions = spec.partitions.max(1);
    client
        .create_topic(
            &stream_id,
            spec.topic,
            partitions,
            CompressionAlgorithm::None,
            None,
            IggyExpiry::ServerDefault,
            MaxTopicSize::ServerDefault,
        )
        .await
        .map_err(|e| format!("cannot create topic '{}/{}': {e}", spec.stream, spec.topic))?;
    Ok(partitions)
}

/// Creates the consumer group when missing, then joins it.
pub async fn join_group(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    group: &str,
) -> Result<(), String> {
    let stream_id = identifier(stream).map_err(|e| e.to_string())?;
    let topic_id = identifier(topic).map_err(|e| e.to_string())?;
    let group_id = identifier(group).map_err(|e| e.to_string())?;
    let context = |e: IggyError| format!("consumer group '{group}' on '{stream}/{topic}': {e}");
    if client
        .get_consumer_group(&stream_id, &topic_id, &group_id)
        .await
        .map_err(context)?
        .is_none()
    {
        match client
            .create_consumer_group(&stream_id, &topic_id, group)
            .await
        {
            Ok(_) | Err(IggyError::ConsumerGroupNameAlreadyExists(..)) => {}
            Err(e) => return Err(context(e)),
        }
    }
    client
        .join_consumer_group(&stream_id, &topic_id, &group_id)
        .await
        .map_err(context)
}

/// Leaves the group so its partitions go to the remaining members; errors are irrelevant
/// (the server drops members of closed connections anyway).
pub async fn leave_group(client: &IggyClient, stream: &str, topic: &str, group: &str) {
    if let (Ok(s), Ok(t), Ok(g)) = (identifier(stream), identifier(topic), identifier(group)) {
        let _ = client.leave_consumer_group(&s, &t, &g).await;
    }
}
