//! `crm-api [serve] | migrate | openapi`

use std::process::ExitCode;

use actix_web::HttpServer;
use clap::{Parser, Subcommand};
use crm_api::app;
use crm_api::config::{LogFormat, Settings};

/// mimalloc for Rust's allocations: glibc's malloc was 14–17 % of the service's samples on
/// a contact list page (a fifth of it `malloc_consolidate`), mimalloc's is 7 %; service CPU
/// per list request -6 % (BENCHMARKS.md). Built with `no_thp`: its transparent huge pages
/// added ~20 MB of RSS for no measurable gain here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "crm-api", version, about = "Multi-tenant CRM backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the OpenAPI document (regenerates openapi/openapi.json).
    Openapi,
    /// Fill a demo account (deterministic for a seed) and print its logins.
    Seed(crm_api::seed::SeedArgs),
    /// Ask the running service on BIND_ADDR (0.0.0.0 is asked on 127.0.0.1) for `/readyz`:
    /// exit 0 when it answers 200 within 3 s, 1 otherwise. The container's health check,
    /// so the image needs no curl.
    Healthcheck {
        /// Ask this URL instead.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Logs go to stderr through a background writer (tracing-appender): a request's access
/// line costs formatting, not a write syscall on the worker (measured: BENCHMARKS.md). The
/// guard flushes what is queued when `main` returns; lines beyond the queue's bound
/// (128k) are dropped rather than stall requests. JSON lines carry the current span (the
/// request's method and id), not the list of every enclosing span.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) =
        tracing_appender::non_blocking(Batched(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr())));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => builder.json().with_span_list(false).init(),
        LogFormat::Pretty => builder.init(),
    }
    guard
}

/// The background writer's output: lines are buffered, and each flush (the writer flushes
/// when it has drained its queue) is followed by a millisecond's pause, so under load the
/// lines of that millisecond reach stderr in one write instead of a syscall (and a wake-up
/// of the writer) per line: measured, the per-line writes were most of the access log's
/// cost (BENCHMARKS.md). A line waits at most about a millisecond; a quiet service's line
/// is written at once.
struct Batched(std::io::BufWriter<std::io::Stderr>);

impl std::io::Write for Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.0.flush();
        std::thread::sleep(std::time::Duration::from_millis(1));
        flushed
    }
}

/// For what still uses glibc's malloc (libpq's results, SQLite): glibc raises its mmap
/// threshold to the size of every large block freed, so a large buffer once freed makes
/// later ones come from the heap and stay there. A fixed threshold keeps large transient
/// buffers (big result sets of exports) in their own mappings, returned when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    // A .env file in the working directory fills in variables the environment lacks.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        match serde_json::to_string_pretty(&app::openapi_doc()) {
            Ok(text) => {
                println!("{text}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("cannot render the OpenAPI document: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(Command::Healthcheck { url }) = &cli.command {
        return healthcheck(url.clone().unwrap_or_else(|| readyz_url(&cli.settings.bind_addr)));
    }
    let _flush = init_logging(cli.settings.log_format);
    let result = match cli.command {
        Some(Command::Migrate) => migrate_only(cli.settings),
        Some(Command::Seed(ref args)) => seed(cli.settings.clone(), args),
        _ => serve(cli.settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `http://<bind>/readyz`, an unspecified address asked on loopback.
fn readyz_url(bind: &str) -> String {
    let host = match bind.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() && addr.is_ipv6() => format!("[::1]:{}", addr.port()),
        Ok(addr) if addr.ip().is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        _ => bind.to_owned(),
    };
    format!("http://{host}/readyz")
}

fn healthcheck(url: String) -> ExitCode {
    let asked = actix_web::rt::System::new().block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
        client.get(&url).send().await.map(|r| r.status())
    });
    match asked {
        Ok(status) if status.is_success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{url}: {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn migrate_only(settings: Settings) -> Result<(), String> {
    let state = app::state(settings)?;
    let applied = app::migrate(&state)?;
    tracing::info!(applied, "migrations applied");
    Ok(())
}

fn seed(settings: Settings, args: &crm_api::seed::SeedArgs) -> Result<(), String> {
    let state = app::state(settings)?;
    app::migrate(&state)?;
    let mut conn = state.pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    let seeded = crm_api::seed::run(&mut conn, args)?;
    println!("account {}", seeded.account_id);
    for login in seeded.logins {
        println!(
            "{:<8} {}  password: {}  (user id {})",
            login.role.as_str(),
            login.email,
            crm_api::seed::DEMO_PASSWORD,
            login.user_id
        );
    }
    Ok(())
}

fn serve(settings: Settings) -> Result<(), String> {
    tracing::info!(?settings, "starting");
    let bind = settings.bind_addr.clone();
    // Database work runs on the workers' blocking threads and never more of it than there
    // are pooled connections (`db::run`), so more threads than that only cost memory.
    let blocking_threads = settings.db_pool_size.max(2) as usize;
    let state = app::state(settings)?;
    let applied = app::migrate(&state)?;
    tracing::info!(applied, "migrations applied");
    actix_web::rt::System::new().block_on(async move {
        if state.settings.webhook_worker {
            crm_api::webhooks::worker::spawn(state.clone())?;
        }
        if let Some(addr) = state.settings.metrics_bind_addr.clone().filter(|a| !a.trim().is_empty()) {
            let metrics_state = state.clone();
            let metrics = HttpServer::new(move || {
                actix_web::App::new()
                    .app_data(metrics_state.clone())
                    .route("/metrics", actix_web::web::get().to(crm_api::metrics::own_listener))
            })
            .workers(1)
            .bind(&addr)
            .map_err(|e| format!("cannot bind METRICS_BIND_ADDR {addr}: {e}"))?
            .run();
            tracing::info!(addr = %addr, "metrics on their own listener");
            actix_web::rt::spawn(metrics);
        }
        let server = HttpServer::new(move || app::build(state.clone()))
            .shutdown_timeout(10)
            .worker_max_blocking_threads(blocking_threads)
            .bind(&bind)
            .map_err(|e| format!("cannot bind {bind}: {e}"))?;
        tracing::info!(addr = %bind, "listening; Swagger UI at /swagger-ui/");
        server.run().await.map_err(|e| format!("server error: {e}"))
    })
}
