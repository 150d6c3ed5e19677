//! `sluice serve`, `sluice user`, `sluice token`: the server and who may use it.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use sluice_server::auth::{self, Role};
use sluice_store::{StateStore, Write, now_micros};
use tokio_util::sync::CancellationToken;

use crate::Failure;
use crate::cli::{Cli, RoleArg, TokenAction, UserAction};
use crate::home;

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Viewer => Role::Viewer,
        RoleArg::Operator => Role::Operator,
        RoleArg::Admin => Role::Admin,
    }
}

/// The state of the server of `pipelines`: `--home`, else `DIR/.sluice`.
async fn server_store(
    cli: &Cli,
    pipelines: &Path,
) -> Result<(Arc<sluice_store::SqlStore>, std::path::PathBuf), Failure> {
    if !pipelines.is_dir() {
        return Err(Failure::invalid(format!(
            "error: {} is not a folder of pipeline files",
            pipelines.display()
        )));
    }
    let home = home::for_file(&cli.home, &pipelines.join("pipeline.yaml"));
    let store = home::open_sql_store(&cli.state, &home).await?;
    Ok((store, home))
}

/// `sluice serve`: until Ctrl-C or SIGTERM.
pub async fn serve(
    cli: &Cli,
    pipelines: &Path,
    bind: std::net::SocketAddr,
    secure_cookies: bool,
    executor: crate::cli::Executor,
) -> Result<u8, Failure> {
    let (store, home) = server_store(cli, pipelines).await?;
    // The queue is the same store (its connections shared).
    let workers: Option<Arc<dyn sluice_store::WorkQueue>> = match executor {
        crate::cli::Executor::Local => None,
        crate::cli::Executor::Workers => Some(store.clone()),
    };
    let store: Arc<dyn StateStore> = store;
    if store.users().await?.is_empty() {
        eprintln!(
            "note: no user yet: every route but /health will answer 401. Create one with `sluice user add NAME --role admin --pipelines {}`",
            pipelines.display()
        );
    }
    let lineage = home::lineage(&home, &store)?;
    let alerts = home::alerts();
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            stop.cancel();
        });
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Ok(addr) = rx.await {
            // The line scripts and tests wait for.
            println!("sluice serve: listening on http://{addr}");
        }
    });
    let config = sluice_server::Config {
        pipelines: std::path::absolute(pipelines).unwrap_or_else(|_| pipelines.to_path_buf()),
        home,
        bind,
        secure_cookies,
        registry: std::sync::Arc::new(sluice_ops::registry()),
        observers: lineage
            .iter()
            .map(|l| l.clone() as std::sync::Arc<dyn sluice_engine::Observer>)
            .chain([alerts.clone() as std::sync::Arc<dyn sluice_engine::Observer>])
            .collect(),
        workers,
        queue_key: home::queue_key()?,
        remote_warehouse: home::remote_warehouse()?,
    };
    let served = sluice_server::serve(config, store, stop, Some(tx)).await;
    crate::home::finish_lineage(lineage);
    crate::home::finish_alerts(&alerts);
    served.map_err(|e| Failure::env(format!("error: {e}")))?;
    Ok(0)
}

/// `sluice user …`.
pub async fn user(cli: &Cli, action: &UserAction) -> Result<u8, Failure> {
    match action {
        UserAction::Add {
            name,
            role: r,
            pipelines,
        } => {
            let (store, _) = server_store(cli, pipelines).await?;
            let password = match std::env::var("SLUICE_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                        Failure::env(format!("error: cannot read the password: {e}"))
                    })?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            let user = auth::put_user(store.as_ref(), name, &password, role(*r))
                .await
                .map_err(|e| Failure::invalid(format!("error: {e}")))?;
            println!("user `{}` has the {} role", user.name, user.role);
            Ok(0)
        }
        UserAction::Disable { name, pipelines } => {
            let (store, _) = server_store(cli, pipelines).await?;
            let Some(user) = store.user(name).await? else {
                return Err(Failure::invalid(format!(
                    "error: no user `{name}` (list them with `sluice user list`)"
                )));
            };
            store
                .apply(&[Write::User(sluice_store::UserRecord {
                    disabled_at: Some(now_micros()),
                    ..user
                })])
                .await?;
            println!("user `{name}` disabled; `sluice user add` enables it again");
            Ok(0)
        }
        UserAction::List { pipelines } => {
            let (store, _) = server_store(cli, pipelines).await?;
            for u in store.users().await? {
                let disabled = if u.disabled_at.is_some() {
                    " (disabled)"
                } else {
                    ""
                };
                println!("{}\t{}{disabled}", u.name, u.role);
            }
            Ok(0)
        }
    }
}

/// `sluice token …`.
pub async fn token(cli: &Cli, action: &TokenAction) -> Result<u8, Failure> {
    match action {
        TokenAction::Create {
            user,
            label,
            role: r,
            expires_in_days,
            pipelines,
        } => {
            let (store, _) = server_store(cli, pipelines).await?;
            let Some(owner) = store.user(user).await? else {
                return Err(Failure::invalid(format!(
                    "error: no user `{user}`: create it with `sluice user add {user} --role …`"
                )));
            };
            let owner_role = Role::from_name(&owner.role).unwrap_or(Role::Viewer);
            let role = r.map(role).unwrap_or(owner_role);
            if role > owner_role {
                return Err(Failure::invalid(format!(
                    "error: `{user}` has the {} role: its tokens cannot have {}",
                    owner_role.name(),
                    role.name()
                )));
            }
            let expires = expires_in_days.map(|d| now_micros() + i64::from(d) * 86_400_000_000);
            let (record, secret) = auth::new_token("api", user, label, role, expires);
            store.apply(&[Write::Token(record.clone())]).await?;
            eprintln!(
                "token {} for `{user}` ({}); keep it now, it is not shown again:",
                record.id,
                role.name()
            );
            println!("{secret}");
            Ok(0)
        }
        TokenAction::List { user, pipelines } => {
            let (store, _) = server_store(cli, pipelines).await?;
            for t in store.tokens(user.as_deref()).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|e| e <= now_micros()) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{state}",
                    t.id, t.kind, t.user_name, t.role, t.label
                );
            }
            Ok(0)
        }
        TokenAction::Revoke { id, pipelines } => {
            let (store, _) = server_store(cli, pipelines).await?;
            let Some(t) = store.tokens(None).await?.into_iter().find(|t| &t.id == id) else {
                return Err(Failure::invalid(format!(
                    "error: no token `{id}` (list them with `sluice token list`)"
                )));
            };
            store
                .apply(&[Write::Token(sluice_store::TokenRecord {
                    revoked_at: Some(now_micros()),
                    ..t
                })])
                .await?;
            println!("token {id} revoked");
            Ok(0)
        }
    }
}
