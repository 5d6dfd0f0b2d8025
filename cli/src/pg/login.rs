//! Logging a PostgreSQL client in, after its startup packet: the password exchange its
//! user's method calls for, the database it asked for, then what PostgreSQL sends on
//! success (AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery).
//!
//! Refusals look like PostgreSQL's and cannot be told apart from outside: an unknown user
//! goes through a SCRAM exchange with a mock verifier (a salt stable per name) and fails
//! at the proof, as a wrong password does, with the same 28P01 message; a wrong database
//! is refused (3D000) only after the password was checked. Every refusal waits the
//! address's [`Throttle`] delay first.

use super::serve::ClientSocket;
use super::Connection;
use crate::config::{Account, Accounts, Method, SslMode};
use futures_util::SinkExt;
use mdbd::auth::throttle::Throttle;
use mdbd::auth::{md5, password_message, scram};
use pgwire::api::auth::save_startup_parameters_to_metadata;
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::ErrorInfo;
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, ParameterStatus, PasswordMessageFamily, Startup,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::sync::Arc;

/// What every client of one PostgreSQL listener shares at login.
pub struct FrontDoor {
    pub accounts: Arc<Accounts>,
    /// The database name clients must ask for, and other names accepted for it.
    pub database: String,
    pub aliases: Vec<String>,
    pub ssl: SslMode,
    /// The listener's TLS, when it has a certificate (for channel binding).
    pub tls: Option<crate::tls::Tls>,
    pub throttle: Arc<Throttle>,
    /// Keys mock verifiers of unknown users (random per daemon).
    pub mock_secret: [u8; 32],
    /// For the login counters.
    pub cluster: Arc<mdbd_engine::cluster::Cluster>,
}

/// Why a login ended without a session: a FATAL error for the client, or the client left.
pub enum Refused {
    Fatal(Box<ErrorInfo>),
    Io(std::io::Error),
}

impl From<std::io::Error> for Refused {
    fn from(e: std::io::Error) -> Self {
        Refused::Io(e)
    }
}

fn fatal(code: &str, message: String) -> Refused {
    Refused::Fatal(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

fn failed(user: &str) -> Refused {
    fatal(
        "28P01",
        format!("password authentication failed for user \"{user}\""),
    )
}

/// Logs the client in; on success the session is ready for queries.
pub async fn login(
    connection: &Connection,
    client: &mut ClientSocket,
    door: &FrontDoor,
    startup: Startup,
) -> Result<(), Refused> {
    save_startup_parameters_to_metadata(client, &startup);
    let user = client.metadata().get("user").cloned().unwrap_or_default();
    let database = client
        .metadata()
        .get("database")
        .cloned()
        .unwrap_or_else(|| user.clone());
    let peer = client.socket_addr();
    if user.is_empty() {
        return Err(fatal(
            "28000",
            "no PostgreSQL user name specified in startup packet".into(),
        ));
    }
    client.set_state(PgWireConnectionState::AuthenticationInProgress);
    let account = door.accounts.get(&user);
    let tls = client.is_secure();
    let verdict = match account {
        Some(a) if (a.require_ssl || door.ssl == SslMode::Require) && !tls => Err(fatal(
            "28000",
            format!("no encryption: user \"{user}\" must connect with SSL"),
        )),
        Some(Account {
            method: Method::Trust,
            ..
        }) => Ok(()),
        Some(Account {
            method: Method::Scram(verifier),
            ..
        }) => scram_exchange(client, door, verifier.clone(), &user).await,
        Some(Account {
            method: Method::Md5(stored),
            ..
        }) => md5_exchange(client, stored, &user).await,
        // Unknown here (or a MySQL-only user): the same exchange as a real one, failing.
        _ => {
            let mock = scram::Verifier::mock(&user, &door.mock_secret);
            match scram_exchange(client, door, mock, &user).await {
                Ok(()) => Err(failed(&user)),
                Err(e) => Err(e),
            }
        }
    };
    let verdict = verdict.and_then(|()| {
        if database == door.database || door.aliases.contains(&database) {
            Ok(())
        } else {
            Err(fatal(
                "3D000",
                format!("database \"{database}\" does not exist"),
            ))
        }
    });
    if let Err(refused) = verdict {
        if let Refused::Fatal(e) = &refused {
            door.cluster
                .counters()
                .logins_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let delay = door.throttle.failed(peer.ip());
            tracing::warn!(%user, %database, %peer, code = %e.code, ?delay, "PostgreSQL login refused");
            tokio::time::sleep(delay).await;
        }
        return Err(refused);
    }
    door.throttle.succeeded(peer.ip());
    tracing::debug!(%user, %peer, tls, "PostgreSQL client logged in");
    welcome(connection, client).await.map_err(Refused::Io)
}

/// The next message, which must be of the password family.
async fn password_message(client: &mut ClientSocket) -> Result<bytes::BytesMut, Refused> {
    match client.next_message().await {
        Some(Ok(PgWireFrontendMessage::PasswordMessageFamily(PasswordMessageFamily::Raw(
            body,
        )))) => Ok(body),
        None => Err(Refused::Io(std::io::ErrorKind::UnexpectedEof.into())),
        Some(Err(e)) => Err(fatal("08P01", e.to_string())),
        Some(Ok(_)) => Err(fatal("08P01", "expected a password response".into())),
    }
}

async fn scram_exchange(
    client: &mut ClientSocket,
    door: &FrontDoor,
    verifier: scram::Verifier,
    user: &str,
) -> Result<(), Refused> {
    let end_point = door
        .tls
        .as_ref()
        .filter(|_| client.is_secure())
        .and_then(|t| t.end_point());
    let mut mechanisms = Vec::new();
    if end_point.is_some() {
        mechanisms.push(scram::MECHANISM_PLUS.to_string());
    }
    mechanisms.push(scram::MECHANISM.to_string());
    client
        .send(PgWireBackendMessage::Authentication(Authentication::SASL(
            mechanisms,
        )))
        .await?;
    let body = password_message(client).await?;
    let initial =
        password_message::sasl_initial(&body).map_err(|e| fatal("08P01", e.to_string()))?;
    let (exchange, server_first) =
        scram::Exchange::start(verifier, &initial.mechanism, &initial.data, end_point)
            .map_err(|e| scram_refusal(e, user))?;
    client
        .send(PgWireBackendMessage::Authentication(
            Authentication::SASLContinue(server_first.into_bytes().into()),
        ))
        .await?;
    let body = password_message(client).await?;
    let server_final = exchange.finish(&body).map_err(|e| scram_refusal(e, user))?;
    client
        .feed(PgWireBackendMessage::Authentication(
            Authentication::SASLFinal(server_final.into_bytes().into()),
        ))
        .await?;
    Ok(())
}

/// A SCRAM failure as PostgreSQL reports it: a wrong proof is 28P01, a malformed message
/// 08P01.
fn scram_refusal(e: scram::ScramError, user: &str) -> Refused {
    match e {
        scram::ScramError::WrongProof => failed(user),
        scram::ScramError::ChannelBinding(_) => fatal("28000", e.to_string()),
        _ => fatal("08P01", e.to_string()),
    }
}

async fn md5_exchange(client: &mut ClientSocket, stored: &str, user: &str) -> Result<(), Refused> {
    let salt: [u8; 4] = rand::random();
    client
        .send(PgWireBackendMessage::Authentication(
            Authentication::MD5Password(salt.to_vec()),
        ))
        .await?;
    let body = password_message(client).await?;
    let answer = password_message::password(&body).map_err(|e| fatal("08P01", e.to_string()))?;
    if md5::matches(stored, &salt, answer) {
        Ok(())
    } else {
        Err(failed(user))
    }
}

/// What PostgreSQL sends once the client is in: AuthenticationOk, the server's
/// parameters, this session's cancel key, ReadyForQuery.
async fn welcome(connection: &Connection, client: &mut ClientSocket) -> std::io::Result<()> {
    client
        .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
        .await?;
    let parameters = {
        let mut session = connection.session.lock().await;
        connection
            .parameters
            .for_client(&mut session, connection.kind, client.metadata())
            .await
    };
    for (name, value) in parameters {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name, value,
            )))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
            connection.key.0,
            connection.key.1,
        )))
        .await?;
    client
        .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
            TransactionStatus::Idle,
        )))
        .await?;
    client.set_state(PgWireConnectionState::ReadyForQuery);
    connection.logged_in.set();
    Ok(())
}
