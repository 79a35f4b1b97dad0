//! `warden-load`: drives one kind of request at a Warden on loopback for a fixed time with a
//! fixed number of concurrent workers, and prints requests per second and latency
//! percentiles. Bounded in count and time; it stops by itself.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use serde_json::Value;

/// What to send.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// `GET /healthz`: the cost of the HTTP stack alone.
    Trivial,
    /// `grant_type=refresh_token`: each worker follows its own rotation chain.
    Refresh,
    /// `grant_type=client_credentials` with HTTP Basic.
    ClientCredentials,
    /// `POST /v1/check` with a bearer token (one login per worker, then the same token).
    Check,
    /// `GET /v1/users/me` with an API key (`--api-key`).
    ApiKeyMe,
    /// `POST /v1/check` with an API key (`--api-key`).
    ApiKeyCheck,
    /// `GET /v1/forward-auth` as nginx asks it, for `GET http://app.test/documents/42`, with
    /// a bearer token (one login per worker).
    ForwardAuth,
    /// `GET /documents/42` at `--url` (a proxy in front of an upstream) with a bearer token
    /// from `--warden-url`.
    Proxied,
    /// `POST /v1/check/batch` of `--batch` checks with a bearer token.
    CheckBatch,
    /// `POST /access/v1/evaluation` (AuthZEN) about `--subject`, with a bearer token holding
    /// `warden.check:any`.
    Evaluation,
    /// `POST /access/v1/evaluations` of `--batch` items about `--subject`.
    Evaluations,
    /// `GET /v1/users?limit=20` with the bearer token of the login (an administrator): the
    /// admin API, which reads the database.
    Admin,
    /// `POST /v1/users` with a new email each time, as the administrator of the login: a
    /// write that must survive whatever happens to the database once it is answered 201.
    CreateUser,
    /// `grant_type=password`: a full login per request (keep the concurrency at most 6:
    /// more simultaneous logins of one identifier are refused as a burst of guesses).
    Password,
}

/// Load generator for Warden.
#[derive(Parser)]
struct Args {
    /// Base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Request kind.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Concurrent workers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Login for refresh mode.
    #[arg(long, default_value = "bench@example.com")]
    username: String,
    /// Password for refresh mode.
    #[arg(long, default_value = "bench passphrase 1")]
    password: String,
    /// Client id for client-credentials mode.
    #[arg(long, default_value = "")]
    client_id: String,
    /// Client secret for client-credentials mode.
    #[arg(long, default_value = "")]
    client_secret: String,
    /// API key for the api-key modes.
    #[arg(long, default_value = "")]
    api_key: String,
    /// Where to log in when `--url` is a proxy (proxied mode); default `--url`.
    #[arg(long)]
    warden_url: Option<String>,
    /// The subject (a user id) of the AuthZEN modes.
    #[arg(long, default_value = "")]
    subject: String,
    /// Checks per request of the batch modes.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Paced: `--concurrency` workers send this many requests per second between them, each
    /// on its own schedule, timing every answer from when it was due (as wrk2 does); refusals
    /// are counted. A worker has one request out at a time, so the rate offered is at most
    /// workers / latency (`sent_rps` says what was). Without it, each worker sends its next
    /// request when the last is answered.
    #[arg(long)]
    rate: Option<f64>,
}

struct Tally {
    ok: u64,
    failed: u64,
    latencies_us: Vec<u32>,
}

async fn login(client: &reqwest::Client, args: &Args) -> anyhow::Result<String> {
    login_for(client, args, "refresh_token").await
}

/// Logs in with the password grant and returns the named token of the reply.
async fn login_for(client: &reqwest::Client, args: &Args, field: &str) -> anyhow::Result<String> {
    let form = [
        ("grant_type", "password"),
        ("username", args.username.as_str()),
        ("password", args.password.as_str()),
    ];
    let reply: Value = client
        .post(format!(
            "{}/oauth/token",
            args.warden_url.as_deref().unwrap_or(&args.url)
        ))
        .form(&form)
        .send()
        .await?
        .json()
        .await?;
    reply[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("login returned no {field}: {reply}"))
}

/// What a worker starts from: its own refresh chain, or a bearer token. The logins are made
/// one after another before the run: more than six simultaneous logins of one identifier are
/// refused as a burst of guesses.
async fn start_token(client: &reqwest::Client, args: &Args) -> anyhow::Result<Option<String>> {
    Ok(match args.mode {
        Mode::Refresh => Some(login(client, args).await?),
        Mode::Check
        | Mode::Admin
        | Mode::CreateUser
        | Mode::CheckBatch
        | Mode::Evaluation
        | Mode::Evaluations
        | Mode::ForwardAuth
        | Mode::Proxied => Some(login_for(client, args, "access_token").await?),
        _ => None,
    })
}

/// The request bodies, serialized once: the batch bodies are large, and the run measures
/// the server.
struct Bodies {
    check: Value,
    batch: Vec<u8>,
    evaluation: Value,
    evaluations: Vec<u8>,
}

impl Bodies {
    fn new(args: &Args) -> anyhow::Result<Self> {
        let check = serde_json::json!({
            "action": "documents:read",
            "resource": {"type": "document", "id": "42", "attributes": {"owner_id": "someone"}},
            "context": {}
        });
        let batch = serde_json::json!({
            "checks": (0..args.batch).map(|i| serde_json::json!({
                "action": "documents:read",
                "resource": {"type": "document", "id": i.to_string(), "attributes": {"owner_id": "someone"}},
            })).collect::<Vec<_>>()
        });
        let subject = serde_json::json!({"type": "user", "id": args.subject});
        let evaluation = serde_json::json!({
            "subject": subject,
            "action": {"name": "documents:read"},
            "resource": {"type": "document", "id": "42", "properties": {"owner_id": "someone"}},
        });
        let evaluations = serde_json::json!({
            "subject": subject,
            "action": {"name": "documents:read"},
            "evaluations": (0..args.batch).map(|i| serde_json::json!({
                "resource": {"type": "document", "id": i.to_string(), "properties": {"owner_id": "someone"}},
            })).collect::<Vec<_>>()
        });
        let batch = serde_json::to_vec(&batch)?;
        let evaluations = serde_json::to_vec(&evaluations)?;
        Ok(Self {
            check,
            batch,
            evaluation,
            evaluations,
        })
    }
}

/// One request of `args.mode`.
fn build(
    client: &reqwest::Client,
    args: &Args,
    bearer: &str,
    bodies: &Bodies,
    refresh: Option<&str>,
) -> reqwest::RequestBuilder {
    match args.mode {
        Mode::Trivial => client.get(format!("{}/healthz", args.url)),
        Mode::Admin => client
            .get(format!("{}/v1/users?limit=20", args.url))
            .bearer_auth(bearer),
        Mode::CreateUser => {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let email = format!("load-{}-{n}@load.test", std::process::id());
            client
                .post(format!("{}/v1/users", args.url))
                .bearer_auth(bearer)
                .json(&serde_json::json!({"email": email, "password": "load test passphrase"}))
        }
        Mode::ClientCredentials => client
            .post(format!("{}/oauth/token", args.url))
            .basic_auth(&args.client_id, Some(&args.client_secret))
            .form(&[("grant_type", "client_credentials")]),
        Mode::Check => client
            .post(format!("{}/v1/check", args.url))
            .bearer_auth(bearer)
            .json(&bodies.check),
        Mode::CheckBatch => client
            .post(format!("{}/v1/check/batch", args.url))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(bodies.batch.clone()),
        Mode::Evaluation => client
            .post(format!("{}/access/v1/evaluation", args.url))
            .bearer_auth(bearer)
            .json(&bodies.evaluation),
        Mode::Evaluations => client
            .post(format!("{}/access/v1/evaluations", args.url))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(bodies.evaluations.clone()),
        Mode::ForwardAuth => client
            .get(format!("{}/v1/forward-auth", args.url))
            .header("x-original-method", "GET")
            .header("x-original-url", "http://app.test/documents/42")
            .bearer_auth(bearer),
        Mode::Proxied => client
            .get(format!("{}/documents/42", args.url))
            .bearer_auth(bearer),
        Mode::ApiKeyMe => client
            .get(format!("{}/v1/users/me", args.url))
            .bearer_auth(&args.api_key),
        Mode::ApiKeyCheck => client
            .post(format!("{}/v1/check", args.url))
            .bearer_auth(&args.api_key)
            .json(&bodies.check),
        Mode::Password => client.post(format!("{}/oauth/token", args.url)).form(&[
            ("grant_type", "password"),
            ("username", args.username.as_str()),
            ("password", args.password.as_str()),
        ]),
        Mode::Refresh => client.post(format!("{}/oauth/token", args.url)).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.unwrap_or_default()),
        ]),
    }
}

async fn worker(args: &Args, until: Instant, start: Option<String>) -> anyhow::Result<Tally> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let mut refresh = match args.mode {
        Mode::Refresh => start.clone(),
        _ => None,
    };
    let bearer = start
        .filter(|_| !matches!(args.mode, Mode::Refresh))
        .unwrap_or_default();
    let bodies = Bodies::new(args)?;
    let mut tally = Tally {
        ok: 0,
        failed: 0,
        latencies_us: Vec::new(),
    };
    while Instant::now() < until {
        let started = Instant::now();
        let request = build(&client, args, &bearer, &bodies, refresh.as_deref());
        let response = request.send().await?;
        let ok = response.status().is_success();
        let body = response.bytes().await?;
        tally
            .latencies_us
            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        if ok {
            tally.ok += 1;
            if let Mode::Refresh = args.mode {
                let reply: Value = serde_json::from_slice(&body)?;
                refresh = reply["refresh_token"].as_str().map(str::to_owned);
            }
        } else {
            tally.failed += 1;
            if let Mode::Refresh = args.mode {
                refresh = Some(login(&client, args).await?);
            }
        }
    }
    Ok(tally)
}

/// What an open-loop run saw.
#[derive(Default)]
struct Offered {
    ok: u64,
    too_many: u64,
    unavailable: u64,
    without_retry_after: u64,
    other: u64,
    errors: u64,
    first_other: Option<u16>,
    latencies_us: Vec<u32>,
}

/// Sends `rate` requests per second until `until` from `--concurrency` workers, each keeping
/// its own schedule (worker i sends at t0 + (k * workers + i) / rate), as wrk2 does; a worker
/// behind schedule sends at once. Latency is from the scheduled moment, so time spent behind
/// schedule counts. `sent` over the run's length says whether the generator kept the rate.
async fn open_loop(
    args: std::sync::Arc<Args>,
    rate: f64,
    until: Instant,
    bearer: String,
) -> anyhow::Result<()> {
    if matches!(args.mode, Mode::Refresh | Mode::Password) {
        bail!("--rate needs a mode whose requests are independent (not refresh or password)");
    }
    let workers = args.concurrency.max(1);
    let bodies = std::sync::Arc::new(Bodies::new(&args)?);
    let period = Duration::from_secs_f64(workers as f64 / rate.max(1.0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..workers {
        let (args, bodies, bearer) = (args.clone(), bodies.clone(), bearer.clone());
        let first = started + period.mul_f64(i as f64 / workers as f64);
        tasks.spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut seen = Offered::default();
            let mut next = first;
            while next < until && Instant::now() < until {
                tokio::time::sleep_until(next.into()).await;
                // Timed from when it should have gone: a worker held up by a slow answer
                // counts the wait too (no coordinated omission).
                let sent = next;
                next += period;
                match build(&client, &args, &bearer, &bodies, None).send().await {
                    Err(_) => seen.errors += 1,
                    Ok(reply) => {
                        let status = reply.status().as_u16();
                        let retry_after = reply.headers().contains_key("retry-after");
                        let _ = reply.bytes().await;
                        match status {
                            200..=299 => {
                                seen.ok += 1;
                                let us =
                                    u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                                seen.latencies_us.push(us);
                            }
                            429 => seen.too_many += 1,
                            503 => seen.unavailable += 1,
                            _ => {
                                seen.other += 1;
                                seen.first_other.get_or_insert(status);
                            }
                        }
                        if matches!(status, 429 | 503) && !retry_after {
                            seen.without_retry_after += 1;
                        }
                    }
                }
            }
            anyhow::Ok(seen)
        });
    }
    let mut all = Offered::default();
    while let Some(seen) = tasks.join_next().await {
        let seen = seen??;
        all.ok += seen.ok;
        all.too_many += seen.too_many;
        all.unavailable += seen.unavailable;
        all.without_retry_after += seen.without_retry_after;
        all.other += seen.other;
        all.errors += seen.errors;
        all.first_other = all.first_other.or(seen.first_other);
        all.latencies_us.extend(seen.latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let i = ((all.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all.latencies_us.get(i).copied().unwrap_or(0)) / 1000.0
    };
    let sent = all.ok + all.too_many + all.unavailable + all.other + all.errors;
    println!(
        "mode={:?} rate={rate:.0} duration={elapsed:.1}s sent_rps={:.0} ok={} refused_429={} refused_503={} without_retry_after={} other={}{} errors={} ok_rps={:.0} p50={:.2}ms p99={:.2}ms",
        args.mode,
        sent as f64 / elapsed,
        all.ok,
        all.too_many,
        all.unavailable,
        all.without_retry_after,
        all.other,
        all.first_other.map(|s| format!(" (first: {s})")).unwrap_or_default(),
        all.errors,
        all.ok as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = args
        .url
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap_or("");
    if !(host.starts_with("127.") || host == "localhost" || host == "[::1]") {
        bail!("warden-load only targets loopback addresses");
    }
    let args = std::sync::Arc::new(args);
    let setup = reqwest::Client::new();
    let mut starts = Vec::new();
    // An open loop shares one login; more logins than a user's session limit would end the
    // first ones.
    let logins = if args.rate.is_some() {
        1
    } else {
        args.concurrency.clamp(1, 1024)
    };
    for _ in 0..logins {
        starts.push(start_token(&setup, &args).await?);
    }
    let until = Instant::now() + Duration::from_secs(args.duration.clamp(1, 900));
    if let Some(rate) = args.rate {
        let bearer = starts.into_iter().next().flatten().unwrap_or_default();
        return open_loop(args, rate, until, bearer).await;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for start in starts {
        let args = args.clone();
        tasks.push(tokio::spawn(
            async move { worker(&args, until, start).await },
        ));
    }
    let mut all = Tally {
        ok: 0,
        failed: 0,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let tally = task.await??;
        all.ok += tally.ok;
        all.failed += tally.failed;
        all.latencies_us.extend(tally.latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let i = ((all.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all.latencies_us.get(i).copied().unwrap_or(0)) / 1000.0
    };
    println!(
        "mode={:?} concurrency={} duration={:.1}s ok={} failed={} rps={:.0} p50={:.2}ms p99={:.2}ms",
        args.mode,
        args.concurrency,
        elapsed,
        all.ok,
        all.failed,
        all.ok as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
